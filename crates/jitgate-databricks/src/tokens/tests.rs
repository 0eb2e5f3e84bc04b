use super::*;

fn token(id: &str, created: i64, expiry: i64) -> TokenInfo {
    TokenInfo {
        token_id: id.into(),
        creation_time: created,
        expiry_time: expiry,
        comment: String::new(),
        created_by_username: "a@example.com".into(),
        owner_id: serde_json::Value::Null,
    }
}

#[test]
fn prune_takes_expired_tokens_and_those_past_the_maximum_lifetime_only() {
    let day = 86_400_000;
    let now = 100 * day;
    let tokens = [
        token("expired", now - 2 * day, now - 1),
        token("never-expires-young", now - day, -1),
        token("never-expires-old", now - 95 * day, -1),
        token("valid", now - day, now + day),
        token("expires-exactly-now", now - day, now),
    ];
    let pruned: Vec<_> = to_prune(&tokens, now, Some(Duration::from_secs(90 * 86_400)))
        .into_iter()
        .map(|(t, why)| (t.token_id.as_str(), why))
        .collect();
    assert_eq!(
        pruned,
        [
            ("expired", PruneReason::Expired),
            ("never-expires-old", PruneReason::TooOld),
            ("expires-exactly-now", PruneReason::Expired),
        ]
    );
    // Without a maximum lifetime only expired ones go.
    assert_eq!(to_prune(&tokens, now, None).len(), 2);
}
