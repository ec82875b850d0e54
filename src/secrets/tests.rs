use super::*;

fn secret() -> Secret {
    Secret::new("s3cr3t-Plaintext-Value-0123456789")
}

#[test]
fn seal_then_open_round_trips() {
    let key = MasterKey::generate();
    let sealed = key.seal(&secret(), &client_aad("acme", "client-1"));
    assert_eq!(sealed.key_id, key.id());
    let opened = key
        .open(&sealed, &client_aad("acme", "client-1"))
        .expect("open");
    assert_eq!(opened.expose(), secret().expose());

    let parsed = Sealed::from_text(&sealed.to_text()).expect("parse");
    assert_eq!(parsed, sealed);
    let opened = key
        .open(&parsed, &client_aad("acme", "client-1"))
        .expect("open parsed");
    assert_eq!(opened.expose(), secret().expose());
}

#[test]
fn empty_and_unicode_secrets_round_trip() {
    let key = MasterKey::generate();
    for value in ["", "ünïcødé ✓ : with colons"] {
        let sealed = key.seal(&Secret::new(value), "aad");
        let text = sealed.to_text();
        let opened = key
            .open(&Sealed::from_text(&text).expect("parse"), "aad")
            .expect("open");
        assert_eq!(opened.expose(), value);
    }
}

#[test]
fn each_seal_uses_a_new_nonce() {
    let key = MasterKey::generate();
    let first = key.seal(&secret(), "aad");
    let second = key.seal(&secret(), "aad");
    assert_ne!(first.nonce, second.nonce);
    assert_ne!(first.ciphertext, second.ciphertext);
}

#[test]
fn another_aad_does_not_open() {
    let key = MasterKey::generate();
    let sealed = key.seal(&secret(), &client_aad("acme", "client-1"));
    for aad in [
        client_aad("acme", "client-2"),
        client_aad("other", "client-1"),
        // Same concatenation, other split: the length prefix tells them apart.
        client_aad("acme/client", "1"),
    ] {
        match key.open(&sealed, &aad) {
            Err(SecretsError::Tampered { key_id }) => assert_eq!(key_id, key.id()),
            other => panic!("expected Tampered for {aad}, got {other:?}"),
        }
    }
}

#[test]
fn another_key_does_not_open() {
    let key = MasterKey::generate();
    let other = MasterKey::generate();
    let sealed = key.seal(&secret(), "aad");
    match other.open(&sealed, "aad") {
        Err(e @ SecretsError::WrongKey { .. }) => {
            let message = e.to_string();
            assert!(message.contains(&key.id()), "{message}");
            assert!(message.contains(&other.id()), "{message}");
        }
        other => panic!("expected WrongKey, got {other:?}"),
    }
    // Even with the key id forged, the other key cannot authenticate the value.
    let mut forged = sealed.clone();
    forged.key_id = other.id();
    assert!(matches!(
        other.open(&forged, "aad"),
        Err(SecretsError::Tampered { .. })
    ));
}

#[test]
fn tampering_is_detected() {
    let key = MasterKey::generate();
    let sealed = key.seal(&secret(), "aad");
    for i in 0..sealed.ciphertext.len() {
        let mut tampered = sealed.clone();
        tampered.ciphertext[i] ^= 0x01;
        assert!(
            matches!(
                key.open(&tampered, "aad"),
                Err(SecretsError::Tampered { .. })
            ),
            "flipping a bit of byte {i} must be detected"
        );
    }
    let mut tampered = sealed.clone();
    tampered.nonce[0] ^= 0x80;
    assert!(key.open(&tampered, "aad").is_err());
    let mut truncated = sealed;
    truncated.ciphertext.pop();
    assert!(key.open(&truncated, "aad").is_err());
}

#[test]
fn debug_output_holds_no_key_material() {
    let key = MasterKey::from_bytes([0xAB; KEY_LEN]);
    let debug = format!("{key:?}");
    assert_eq!(debug, format!("MasterKey {{ id: {:?} }}", key.id()));
    assert!(!debug.contains(&key.to_base64()));
    assert!(!debug.to_lowercase().contains("abab"));

    let sealed = key.seal(&secret(), "aad");
    let debug = format!("{sealed:?}");
    assert!(debug.contains(&key.id()), "{debug}");
    assert!(
        !debug.contains(&URL_SAFE_NO_PAD.encode(&sealed.ciphertext)),
        "{debug}"
    );
    assert!(!debug.contains(&format!("{:?}", sealed.ciphertext)));
    assert!(!debug.contains(secret().expose()));
}

#[test]
fn sealed_text_does_not_contain_the_plaintext() {
    let key = MasterKey::generate();
    let plain = secret();
    let text = key.seal(&plain, "aad").to_text();
    assert!(!text.contains(plain.expose()));
    assert!(!text.contains(&STANDARD.encode(plain.expose())));
    assert!(!text.contains(&URL_SAFE_NO_PAD.encode(plain.expose())));
    assert!(text.starts_with(&format!("v1:{}:", key.id())), "{text}");
}

#[test]
fn malformed_text_is_rejected_without_echoing_it() {
    let key = MasterKey::generate();
    let good = key.seal(&secret(), "aad").to_text();
    let parts: Vec<&str> = good.split(':').collect();
    let cases = [
        String::new(),
        "plaintext-secret-value".to_owned(),
        format!("v2:{}:{}:{}", parts[1], parts[2], parts[3]),
        format!("v1:XYZ:{}:{}", parts[2], parts[3]),
        format!("v1:{}:AAAA:{}", parts[1], parts[3]),
        format!("v1:{}:{}:!!!", parts[1], parts[2]),
        format!("v1:{}:{}:AAAA", parts[1], parts[2]),
        format!("{good}:extra"),
    ];
    for text in cases {
        match Sealed::from_text(&text) {
            Err(e @ SecretsError::Malformed(_)) => {
                assert!(!e.to_string().contains("plaintext-secret-value"), "{e}");
            }
            other => panic!("expected Malformed for {text:?}, got {other:?}"),
        }
    }
}

#[test]
fn key_id_is_a_prefix_of_the_sha256() {
    let key = MasterKey::from_bytes([0; KEY_LEN]);
    // SHA-256 of 32 zero bytes.
    assert_eq!(key.id(), "66687aadf862bd77");
    assert_ne!(MasterKey::generate().id(), key.id());
}

#[test]
fn base64_round_trips_and_accepts_common_forms() {
    let key = MasterKey::generate();
    let text = key.to_base64();
    assert_eq!(text.len(), 44);
    let parsed = MasterKey::from_base64(&format!("  {text}\n")).expect("parse");
    assert_eq!(parsed.id(), key.id());
    let unpadded = URL_SAFE_NO_PAD.encode(key.bytes);
    assert_eq!(
        MasterKey::from_base64(&unpadded).expect("url-safe").id(),
        key.id()
    );
}

#[test]
fn bad_keys_are_named_without_their_value() {
    let short = STANDARD.encode([7u8; 16]);
    for (value, expected) in [
        ("", "is empty"),
        ("   ", "is empty"),
        ("not base64 at all!", "not valid base64"),
        (short.as_str(), "decodes to 16 bytes"),
    ] {
        let err = MasterKey::from_sources(MASTER_KEY_ENV, Some(value.to_owned()), None)
            .expect_err("bad key");
        let message = err.to_string();
        assert!(message.contains(MASTER_KEY_ENV), "{message}");
        assert!(message.contains(expected), "{message}");
        if !value.trim().is_empty() {
            assert!(!message.contains(value.trim()), "{message}");
        }
    }
}

#[test]
fn key_from_env_or_file() {
    let dir = std::env::temp_dir().join(format!("switchboard-key-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let key = MasterKey::generate();
    let path = dir.join("master.key");
    std::fs::write(&path, format!("{}\n", key.to_base64())).expect("write key file");

    assert!(
        MasterKey::from_sources(MASTER_KEY_ENV, None, None)
            .expect("nothing given")
            .is_none()
    );
    let from_env = MasterKey::from_sources(MASTER_KEY_ENV, Some(key.to_base64()), None)
        .expect("env")
        .expect("a key");
    assert_eq!(from_env.id(), key.id());
    let from_file = MasterKey::from_sources(MASTER_KEY_ENV, None, Some(&path))
        .expect("file")
        .expect("a key");
    assert_eq!(from_file.id(), key.id());

    let both = MasterKey::from_sources(MASTER_KEY_ENV, Some(key.to_base64()), Some(&path))
        .expect_err("both");
    assert!(matches!(both, SecretsError::Ambiguous { .. }), "{both}");

    let missing = dir.join("missing.key");
    let err =
        MasterKey::from_sources(MASTER_KEY_ENV, None, Some(&missing)).expect_err("missing file");
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );

    let bad = dir.join("bad.key");
    std::fs::write(&bad, "c2hvcnQ=").expect("write bad key file");
    let err = MasterKey::from_sources(MASTER_KEY_ENV, None, Some(&bad)).expect_err("bad file");
    let message = err.to_string();
    assert!(message.contains(&bad.display().to_string()), "{message}");
    assert!(!message.contains("c2hvcnQ"), "{message}");

    // The real environment: a variable nobody sets reads as absent.
    assert!(
        MasterKey::from_env_or_file("SWITCHBOARD_TEST_UNSET_MASTER_KEY_VAR", None)
            .expect("unset")
            .is_none()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
