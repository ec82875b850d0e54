//! Tests of secrets: where they come from, and that they never reach Debug, Display or an error message.

use std::path::Path;

use super::tests::{FULL, parse, temp_dir};
use super::*;

#[test]
fn secret_from_file_is_trimmed_and_relative_to_the_config() {
    let dir = temp_dir("secret-file");
    std::fs::write(dir.join("client.secret"), "file-secret\n").unwrap();
    std::fs::write(dir.join("empty.secret"), " \n").unwrap();
    let ok = "[[tenants]]\nid = \"t\"\nregion = \"eu-west-1\"\n\
              [[tenants.clients]]\nid = \"c\"\nsecret_file = \"client.secret\"\n";
    let c = Config::from_toml_str(ok, &dir).unwrap();
    assert_eq!(c.tenants[0].clients[0].secret.expose(), "file-secret");

    let bad = "[[tenants]]\nid = \"t\"\nregion = \"eu-west-1\"\n\
               [[tenants.clients]]\nid = \"a\"\nsecret_file = \"empty.secret\"\n\
               [[tenants.clients]]\nid = \"b\"\nsecret_file = \"missing.secret\"\n";
    let e = Config::from_toml_str(bad, &dir).unwrap_err().errors;
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0].path, "tenants[0].clients[0].secret_file");
    assert!(e[0].message.contains("empty.secret") && e[0].message.contains("empty"));
    assert_eq!(e[1].path, "tenants[0].clients[1].secret_file");
    assert!(e[1].message.contains("missing.secret"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn secret_from_the_process_environment() {
    // PATH is set in every test process, so nothing has to be set (set_var races with parallel tests).
    let path = std::env::var("PATH").expect("PATH is set");
    let text = "[[tenants]]\nid = \"t\"\nregion = \"eu-west-1\"\n\
                [[tenants.clients]]\nid = \"c\"\nsecret_env = \"PATH\"\n";
    let c = Config::from_toml_str(text, Path::new(".")).unwrap();
    assert_eq!(c.tenants[0].clients[0].secret.expose(), path.trim());
}

#[test]
fn a_missing_env_var_is_named_and_no_value_is_shown() {
    let var = "SWITCHBOARD_TEST_NEVER_SET_3F9A1C";
    let text = format!(
        "[[tenants]]\nid = \"t\"\nregion = \"eu-west-1\"\n\
         [[tenants.clients]]\nid = \"c\"\nsecret_env = \"{var}\"\n\
         [[tenants.clients]]\nid = \"d\"\nsecret_env = \"SB_TEST_FAKE_EMPTY\"\n\
         [[tenants.clients]]\nid = \"e\"\nsecret_env = \"SB_TEST_FAKE_BAD_UNICODE\"\n"
    );
    let err = Config::from_toml_str(&text, Path::new(".")).unwrap_err();
    assert_eq!(err.errors[0].path, "tenants[0].clients[0].secret_env");
    assert!(err.errors[0].message.contains(var), "{err}");
    assert!(err.errors[0].message.contains("not set"), "{err}");
    let err = parse(&text).unwrap_err();
    let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "tenants[0].clients[0].secret_env",
            "tenants[0].clients[1].secret_env",
            "tenants[0].clients[2].secret_env",
        ]
    );
    assert!(
        err.errors[1]
            .message
            .contains("SB_TEST_FAKE_EMPTY is empty")
    );
    assert!(err.errors[2].message.contains("SB_TEST_FAKE_BAD_UNICODE"));
}

#[test]
fn secrets_never_reach_debug_display_or_errors() {
    let c = parse(FULL).unwrap();
    for shown in [format!("{c:?}"), format!("{c:#?}")] {
        assert!(!shown.contains("s3cr3t-inline"), "{shown}");
        assert!(!shown.contains("from-env"), "{shown}");
        assert!(shown.contains("***"));
    }
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s} {s:?}"), "*** ***");
    assert_eq!(s.expose(), "hunter2");

    // A syntax error on the secret's line does not quote the line.
    let text = "[[tenants]]\nid = \"t\"\n[[tenants.clients]]\nid = \"c\"\nsecret = hunter2\n";
    let err = parse(text).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // Neither does a secret of the wrong type, or a secret given twice.
    let text = "[[tenants]]\nid = \"t\"\nregion = \"eu-west-1\"\n[[tenants.clients]]\nid = \"c\"\n\
                secret = \"hunter2\"\nsecret_env = \"X\"\n[[tenants.clients]]\nid = \"d\"\nsecret = 123456\n";
    let err = parse(text).unwrap_err().to_string();
    assert!(!err.contains("hunter2") && !err.contains("123456"), "{err}");
}
