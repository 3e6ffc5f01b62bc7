//! The JSON Schema of every event payload is generated from the code and committed under
//! `schemas/events/`. This test fails when the committed files differ from the code; run it with
//! `UPDATE_SCHEMAS=1` to rewrite them, then review and commit the diff.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/events")
}

fn expected_files() -> Vec<(String, String)> {
    ledger_core::event::payload_schemas()
        .into_iter()
        .map(|(event_type, version, schema)| {
            let mut value = schema.to_value();
            let object = value.as_object_mut().expect("a schema is an object");
            object.insert("title".into(), format!("{event_type} v{version}").into());
            object.insert("x-event-type".into(), event_type.into());
            object.insert("x-schema-version".into(), version.into());
            let text = serde_json::to_string_pretty(&value).expect("schemas serialise") + "\n";
            (format!("{event_type}.v{version}.json"), text)
        })
        .collect()
}

#[test]
fn committed_event_schemas_match_the_code() {
    let directory = schema_dir();
    let expected = expected_files();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        fs::create_dir_all(&directory).unwrap();
        for entry in fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|extension| extension == "json") {
                fs::remove_file(path).unwrap();
            }
        }
        for (name, text) in &expected {
            fs::write(directory.join(name), text).unwrap();
        }
    }
    let mut drift = Vec::new();
    for (name, text) in &expected {
        match fs::read_to_string(directory.join(name)) {
            Ok(committed) if committed == *text => {}
            Ok(_) => drift.push(format!("{name} differs from the code")),
            Err(_) => drift.push(format!("{name} is missing")),
        }
    }
    let wanted: BTreeSet<&str> = expected.iter().map(|(name, _)| name.as_str()).collect();
    for entry in fs::read_dir(&directory).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && !wanted.contains(name.as_str()) {
            drift.push(format!("{name} is stale: no event type has that schema"));
        }
    }
    assert!(
        drift.is_empty(),
        "event schemas drifted (run UPDATE_SCHEMAS=1 cargo test -p ledger-core --test schemas):\n{}",
        drift.join("\n")
    );
}

#[test]
fn every_event_type_has_one_schema() {
    let names: BTreeSet<&str> = ledger_core::event::EVENT_TYPES.iter().map(|(name, _)| *name).collect();
    assert_eq!(names.len(), ledger_core::event::EVENT_TYPES.len(), "event types are unique");
    assert_eq!(expected_files().len(), names.len());
}
