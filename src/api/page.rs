//! Paged lists: `?offset=&limit=` on list routes. The body stays a JSON array (what clients read today); the
//! total is in `X-Total-Count` and, when more remain, a `Link: <…>; rel="next"` header names the next page.

use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::limits::MAX_PAGE;

/// `?offset=&limit=` of a paged list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Items to return: 1 to 10000 (default 10000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u64>,
}

impl PageQuery {
    /// The (offset, limit) asked for, or a 400 naming the bound.
    fn bounds(&self) -> Result<(usize, usize), ApiError> {
        let limit = match self.limit {
            None => MAX_PAGE,
            Some(l) if (1..=MAX_PAGE as u64).contains(&l) => l as usize,
            Some(_) => {
                return Err(ApiError::invalid(format!(
                    "limit must be between 1 and {MAX_PAGE}"
                )));
            }
        };
        let offset = match self.offset.unwrap_or(0) {
            o if o < 0 => return Err(ApiError::invalid("offset must not be negative")),
            o => usize::try_from(o).unwrap_or(usize::MAX),
        };
        Ok((offset, limit))
    }
}

/// One page of `items` as a 200 with the paging headers.
pub fn respond<T: Serialize>(
    req: &HttpRequest,
    query: &PageQuery,
    items: Vec<T>,
) -> Result<HttpResponse, ApiError> {
    let (offset, limit) = query.bounds()?;
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
    let mut res = HttpResponse::Ok();
    res.insert_header(("X-Total-Count", total.to_string()));
    let next = offset.saturating_add(limit);
    if next < total {
        res.insert_header((
            "Link",
            format!("<{}?offset={next}&limit={limit}>; rel=\"next\"", req.path()),
        ));
    }
    Ok(res.json(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_1_to_10000_are_refused() {
        let q = |offset, limit| PageQuery { offset, limit };
        assert_eq!(q(None, None).bounds().unwrap(), (0, MAX_PAGE));
        assert_eq!(q(Some(5), Some(7)).bounds().unwrap(), (5, 7));
        assert!(q(None, Some(0)).bounds().is_err());
        assert!(q(None, Some(10_001)).bounds().is_err());
    }
}
