use super::*;

fn sample_facts() -> Vec<Fact> {
    vec![
        Fact {
            key: "title",
            label: "Role",
            value: "Detective Ana Ruiz".into(),
        },
        Fact {
            key: "location",
            label: "Location",
            value: "Madrid, Spain".into(),
        },
        Fact {
            key: "pay",
            label: "Pay",
            value: "400–600 EUR per day".into(),
        },
        Fact {
            key: "deadline",
            label: "Apply by",
            value: "15 December 2026".into(),
        },
    ]
}

fn answer(headline: &str, value: &str, palette: &[&str]) -> String {
    serde_json::json!({
        "template": "classic",
        "headline": headline,
        "subheadline": "A period drama shot in Madrid",
        "fields": [
            {"fact": "pay", "label": "Day rate", "value": value},
            {"fact": "deadline", "label": "Apply by", "value": "15 December 2026"}
        ],
        "callToAction": "Apply now",
        "palette": palette,
    })
    .to_string()
}

#[test]
fn a_grounded_answer_becomes_the_flier() {
    let raw = answer(
        "Casting Detective Ana Ruiz",
        "400–600 EUR per day",
        &["#112233", "#aabbcc"],
    );
    let spec = check(&raw, &sample_facts(), None, "m", Utc::now()).expect("valid");
    assert_eq!(spec.template, "classic");
    assert_eq!(spec.generated_by, GeneratedBy::Model);
    assert_eq!(spec.model.as_deref(), Some("m"));
    assert_eq!(spec.palette, vec!["#112233", "#AABBCC"]);
    assert_eq!(spec.fields[0].label, "Day rate");
}

#[test]
fn a_shortened_value_is_grounded_and_an_invented_one_is_not() {
    let facts = sample_facts();
    let shortened = answer("Casting now", "400–600 EUR", &["#112233", "#445566"]);
    assert!(check(&shortened, &facts, None, "m", Utc::now()).is_ok());
    let invented = answer("Casting now", "5000 EUR per day", &["#112233", "#445566"]);
    let err = check(&invented, &facts, None, "m", Utc::now()).expect_err("invented pay");
    assert!(err.contains("taken from the fact"), "{err}");
}

#[test]
fn free_text_may_not_add_numbers_or_links() {
    let facts = sample_facts();
    let number = answer(
        "Earn 9000 a day",
        "400–600 EUR per day",
        &["#112233", "#445566"],
    );
    assert!(check(&number, &facts, None, "m", Utc::now())
        .expect_err("number")
        .contains("9000"));
    let link = answer(
        "Apply at https://evil.example",
        "400–600 EUR per day",
        &["#112233", "#445566"],
    );
    assert!(check(&link, &facts, None, "m", Utc::now())
        .expect_err("link")
        .contains("links"));
    // A number the facts hold is fine.
    let held = answer(
        "Apply by 15 December",
        "400–600 EUR per day",
        &["#112233", "#445566"],
    );
    assert!(check(&held, &facts, None, "m", Utc::now()).is_ok());
}

#[test]
fn templates_colours_and_shape_are_checked() {
    let facts = sample_facts();
    let good = answer(
        "Casting now",
        "400–600 EUR per day",
        &["#112233", "#445566"],
    );
    assert!(check(&good, &facts, Some("minimal"), "m", Utc::now())
        .expect_err("template")
        .contains("minimal"));
    let bad_colour = answer("Casting now", "400–600 EUR per day", &["red", "#445566"]);
    assert!(check(&bad_colour, &facts, None, "m", Utc::now()).is_err());
    let one_colour = answer("Casting now", "400–600 EUR per day", &["#445566"]);
    assert!(check(&one_colour, &facts, None, "m", Utc::now()).is_err());
    let long = answer(
        &"x".repeat(81),
        "400–600 EUR per day",
        &["#112233", "#445566"],
    );
    assert!(check(&long, &facts, None, "m", Utc::now()).is_err());
    assert!(check("{\"template\":\"classic\"}", &facts, None, "m", Utc::now()).is_err());
    assert!(check("not json", &facts, None, "m", Utc::now()).is_err());
    let mut extra: serde_json::Value = serde_json::from_str(&good).expect("json");
    extra["note"] = "ignore the schema".into();
    assert!(check(&extra.to_string(), &facts, None, "m", Utc::now()).is_err());
}

#[test]
fn the_fallback_is_built_from_the_facts_and_passes_the_same_checks() {
    let facts = sample_facts();
    let spec = fallback(&facts, Some("spotlight"), Utc::now());
    assert_eq!(spec.template, "spotlight");
    assert_eq!(spec.generated_by, GeneratedBy::Template);
    assert_eq!(spec.model, None);
    assert!(spec.headline.contains("Detective Ana Ruiz"));
    assert!(spec.call_to_action.contains("15 December 2026"));
    assert_eq!(spec.fields.len(), 3);
    // The same spec, read back as a model answer, is valid: the fallback invents nothing.
    let keyed: Vec<_> = facts
        .iter()
        .filter(|f| f.key != "title")
        .map(|f| serde_json::json!({"fact": f.key, "label": f.label, "value": f.value}))
        .collect();
    let raw = serde_json::json!({
        "template": spec.template, "headline": spec.headline, "subheadline": spec.subheadline,
        "fields": keyed, "callToAction": spec.call_to_action, "palette": spec.palette,
    });
    assert!(check(&raw.to_string(), &facts, None, "m", Utc::now()).is_ok());
    assert_eq!(fallback(&facts, None, Utc::now()).template, "classic");
}

#[test]
fn producer_inputs_are_bounded() {
    assert!(checked_inputs(Some("nope"), None).is_err());
    assert!(checked_inputs(None, Some(&"x".repeat(501))).is_err());
    let (t, i) = checked_inputs(Some(" minimal "), Some("warm\u{0007} tone\nplease")).expect("ok");
    assert_eq!(t, Some("minimal"));
    assert_eq!(i.as_deref(), Some("warm tone\nplease"));
    assert_eq!(checked_inputs(None, Some("   ")).expect("ok").1, None);
}

#[test]
fn the_schema_is_strict() {
    let schema = schema(&sample_facts());
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(
        schema["properties"]["fields"]["items"]["additionalProperties"],
        false
    );
    assert_eq!(
        schema["properties"]["fields"]["items"]["properties"]["fact"]["enum"],
        serde_json::json!(["title", "location", "pay", "deadline"])
    );
    assert_eq!(schema["properties"]["template"]["enum"][0], "classic");
}
