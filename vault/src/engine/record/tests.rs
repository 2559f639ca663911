//! Tests of the record scanner and splicer.

use super::*;

fn policy(fields: &[&str], drops: &[&str]) -> Compiled {
    Compiled::new(
        fields
            .iter()
            .map(|p| (Pattern::parse(p).unwrap(), false))
            .collect(),
        drops.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
    )
}

/// Replaces every hit with `P<value>` and applies the drops.
fn rewrite(doc: &str, p: &Compiled) -> String {
    let plan = plan(doc, p).unwrap();
    let mut edits: Vec<_> = plan
        .hits
        .iter()
        .map(|h| (h.range.clone(), format!("\"P{}\"", h.value)))
        .collect();
    edits.extend(plan.drops.iter().map(|r| (r.clone(), String::new())));
    splice(doc, edits)
}

#[test]
fn replaces_fields_and_keeps_every_other_byte() {
    let doc =
        "{ \"id\" :\"a1\",\n  \"n\": 1.50e3, \"ssn\":  \"19520903-5525\" ,\"x\":[true ,null]}";
    let out = rewrite(doc, &policy(&["/ssn"], &[]));
    assert_eq!(
        out,
        "{ \"id\" :\"a1\",\n  \"n\": 1.50e3, \"ssn\":  \"P19520903-5525\" ,\"x\":[true ,null]}"
    );
}

#[test]
fn nested_arrays_wildcards_and_arrays_of_strings() {
    let doc = r#"{"p":{"contacts":[{"phone":"1"},{"mail":"m"},{"phone":22}]},"ids":["a","b"]}"#;
    let p = policy(&["/p/contacts/*/phone", "/ids"], &[]);
    let plan = plan(doc, &p).unwrap();
    let pointers: Vec<_> = plan.hits.iter().map(|h| h.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/p/contacts/0/phone",
            "/p/contacts/2/phone",
            "/ids/0",
            "/ids/1"
        ]
    );
    assert_eq!(plan.hits[1].value, "22");
    assert_eq!(
        rewrite(doc, &p),
        r#"{"p":{"contacts":[{"phone":"P1"},{"mail":"m"},{"phone":"P22"}]},"ids":["Pa","Pb"]}"#
    );
}

#[test]
fn numeric_tokens_match_indexes_and_escapes_decode() {
    let doc = r#"{"a/b":{"x~":"v"},"l":["q","r"],"e":"\u0041\n"}"#;
    let p = policy(&["/a~1b/x~0", "/l/1", "/e"], &[]);
    let plan = plan(doc, &p).unwrap();
    let values: Vec<_> = plan.hits.iter().map(|h| h.value.as_str()).collect();
    assert_eq!(values, ["v", "r", "A\n"]);
    assert_eq!(plan.hits[0].pointer, "/a~1b/x~0");
}

#[test]
fn drops_members_with_one_separator_each() {
    let cases = [
        (r#"{"a":1,"b":2,"c":3}"#, vec!["/a"], r#"{"b":2,"c":3}"#),
        (r#"{"a":1,"b":2,"c":3}"#, vec!["/b"], r#"{"a":1,"c":3}"#),
        (r#"{"a":1,"b":2,"c":3}"#, vec!["/c"], r#"{"a":1,"b":2}"#),
        (r#"{"a":1,"b":2,"c":3}"#, vec!["/b", "/c"], r#"{"a":1}"#),
        (r#"{"a":1,"b":2,"c":3}"#, vec!["/a", "/b"], r#"{"c":3}"#),
        (r#"{"a":1,"b":2,"c":3}"#, vec!["/a", "/c"], r#"{"b":2}"#),
        (r#"{ "a" : 1 , "b" : 2 }"#, vec!["/a", "/b"], r#"{  }"#),
        (
            r#"{"n":[{"t":"x","k":1},{"t":"y"}]}"#,
            vec!["/n/*/t"],
            r#"{"n":[{"k":1},{}]}"#,
        ),
        (r#"{"n":["x","y","z"]}"#, vec!["/n/1"], r#"{"n":["x","z"]}"#),
    ];
    for (doc, drops, want) in cases {
        let out = rewrite(doc, &policy(&[], &drops));
        assert_eq!(out, want, "{doc} dropping {drops:?}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap();
    }
}

#[test]
fn a_dropped_subtree_hides_its_identifiers() {
    let doc = r#"{"note":{"ssn":"1"},"ssn":"2"}"#;
    let p = policy(&["/note/ssn", "/ssn"], &["/note"]);
    assert_eq!(rewrite(doc, &p), r#"{"ssn":"P2"}"#);
}

#[test]
fn errors_name_fields_and_never_values() {
    let p = Compiled::new(
        vec![
            (Pattern::parse("/ssn").unwrap(), true),
            (Pattern::parse("/o").unwrap(), false),
            (Pattern::parse("/opt").unwrap(), false),
        ],
        vec![],
    );
    let errors = plan(r#"{"o":{"secret-value":1}}"#, &p).unwrap_err();
    assert_eq!(
        errors,
        vec![
            FieldError {
                pointer: "/o".into(),
                rule: "an identifier field must hold a string, a number or an array of them".into()
            },
            FieldError {
                pointer: "/ssn".into(),
                rule: "required field is missing".into()
            },
        ]
    );
    // Null counts as missing; a missing optional field is fine.
    assert!(plan(r#"{"ssn":null}"#, &p).is_err());
    assert_eq!(plan(r#"{"ssn":"x"}"#, &p).unwrap().hits.len(), 1);
    let bad = plan(r#"{"ssn":"19520903-5525""#, &p).unwrap_err();
    assert_eq!(bad[0].pointer, "");
    assert!(
        bad[0].rule.starts_with("must be one JSON document"),
        "{}",
        bad[0].rule
    );
    assert!(!bad[0].rule.contains("1952"));
}

#[test]
fn pointers_parse_strictly() {
    assert!(Pattern::parse("").is_err());
    assert!(Pattern::parse("ssn").is_err());
    assert!(Pattern::parse("/a~2").is_err());
    assert_eq!(
        Pattern::parse("/a/*/b~1c").unwrap(),
        Pattern(vec![
            Token::Key("a".into()),
            Token::Any,
            Token::Key("b/c".into())
        ])
    );
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            "[a-z0-9 ~/\"\\\\é]{0,8}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map("[a-c~/]{1,2}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any text at all: an answer, never a panic (the scanner trusts only what
        /// serde_json has accepted).
        #[test]
        fn any_text_is_answered(doc in "\\PC{0,64}|[\\[\\]{}\",:0-9a-z\\\\ ]{0,64}") {
            let p = Compiled::new(
                vec![(Pattern::parse("/a").unwrap(), true), (Pattern::parse("/*/b").unwrap(), false)],
                vec![Pattern::parse("/c").unwrap()],
            );
            let _ = plan(&doc, &p);
        }

        /// Whatever is dropped or replaced, the output is valid JSON and equals the input
        /// with those fields changed (checked against serde_json's own tree).
        #[test]
        fn rewrite_matches_the_tree(v in json_value(), pretty in any::<bool>(),
                                    field in "/[a-c~/*]{1,2}(/[a-c*]{1,2})?",
                                    drop in "/[a-c~/*]{1,2}") {
            let doc = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
            let (Ok(f), Ok(d)) = (Pattern::parse(&field), Pattern::parse(&drop)) else { return Ok(()); };
            let p = Compiled::new(vec![(f, false)], vec![d]);
            if let Ok(plan) = plan(&doc, &p) {
                let mut edits: Vec<_> = plan.hits.iter().map(|h| (h.range.clone(), "\"X\"".to_string())).collect();
                edits.extend(plan.drops.iter().map(|r| (r.clone(), String::new())));
                let out = splice(&doc, edits);
                let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
                // Every hit's pointer now holds "X" (unless its parent was dropped).
                for h in &plan.hits {
                    if let Some(x) = parsed.pointer(&h.pointer) {
                        prop_assert_eq!(x, &serde_json::json!("X"));
                    }
                }
                if plan.hits.is_empty() && plan.drops.is_empty() {
                    prop_assert_eq!(out, doc);
                }
            }
        }
    }
}
