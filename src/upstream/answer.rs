//! Reading the platform's answers: whole, and never more than a bound, so that a platform (or anything
//! posing as one) that never stops sending cannot grow the engine's memory.

use serde::de::DeserializeOwned;

use super::UpstreamError;

/// The largest answer read: one details query page (100 conversations are well under 1 MiB) or one page of
/// users or queues; channel and subscription answers are far smaller.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

/// The largest error answer read; past it, the error is reported without the platform's code and message.
pub const MAX_ERROR_BYTES: usize = 64 << 10;

/// The whole body of `res`, chunk by chunk, refused past `limit` bytes. `what` names the request in errors.
pub async fn read_body(
    mut res: reqwest::Response,
    what: &str,
    limit: usize,
) -> Result<Vec<u8>, UpstreamError> {
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| UpstreamError::Transient(format!("{what}: {}", e.without_url())))?
    {
        if body.len() + chunk.len() > limit {
            return Err(UpstreamError::Protocol(format!(
                "{what}: the answer is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `body` as the JSON of `T`.
pub fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, UpstreamError> {
    serde_json::from_slice(body)
        .map_err(|e| UpstreamError::Protocol(format!("{what}: not the expected JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_of_the_wrong_shape_is_a_protocol_error_naming_the_request() {
        let err = parse::<Vec<u32>>(br#"{"a":1}"#, "GET /x").unwrap_err();
        assert!(
            matches!(&err, UpstreamError::Protocol(m) if m.starts_with("GET /x: not the expected JSON")),
            "{err:?}"
        );
        assert_eq!(parse::<Vec<u32>>(b"[1,2]", "GET /x").unwrap(), vec![1, 2]);
    }
}
