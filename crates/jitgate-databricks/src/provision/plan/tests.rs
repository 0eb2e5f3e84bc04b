use super::*;
use jitgate_config::{Requester, SecurablePrivileges};

fn rule(foreign: ForeignPolicy) -> ProvisionRule {
    ProvisionRule {
        requesters: vec![Requester::Group("analysts".into())],
        group: Some("jit-sales".into()),
        privileges: vec![SecurablePrivileges {
            securable_type: "table".into(),
            full_name: "main.sales.orders".into(),
            privileges: vec!["SELECT".into()],
        }],
        foreign,
        token_for: None,
    }
}

fn member(id: &str) -> Entitlement {
    Entitlement {
        target: Target::Member {
            group: "jit-sales".into(),
        },
        principal: id.into(),
    }
}

fn set(items: &[Entitlement]) -> BTreeSet<Entitlement> {
    items.iter().cloned().collect()
}

#[test]
fn a_grant_wants_the_rule_group_and_every_privilege_of_its_user() {
    let user = WorkspaceUser {
        id: "u1".into(),
        user_name: "alice@example.com".into(),
    };
    let r = rule(ForeignPolicy::Alert);
    let got = entitlements(&r, &user);
    assert_eq!(got[0], member("u1"));
    assert_eq!(got[1].principal, "alice@example.com");
    assert_eq!(
        Target::from_key(&got[1].target.key()),
        Some(got[1].target.clone())
    );
    assert!(rule_for(std::slice::from_ref(&r), "alice", &["analysts".into()]).is_some());
    assert!(rule_for(&[r], "bob", &["sales".into()]).is_none());
}

#[test]
fn outlived_memberships_go_foreign_ones_alert_or_go_and_owned_ones_stay() {
    let governed = governed(&[rule(ForeignPolicy::Alert)]);
    let wanted = set(&[member("live")]);
    let ledger = set(&[member("live"), member("ended"), member("gone")]);
    let actual = set(&[member("live"), member("ended"), member("foreign")]);
    let steps = plan(&wanted, &ledger, &actual, &governed);
    assert_eq!(
        steps,
        [
            Step::Remove(member("ended"), RemoveWhy::Outlived),
            Step::Forget(member("gone")),
            Step::Alert(member("foreign")),
        ]
    );
    let governed = super::governed(&[rule(ForeignPolicy::Alert), rule(ForeignPolicy::Remove)]);
    let steps = plan(&wanted, &ledger, &actual, &governed);
    assert!(steps.contains(&Step::Remove(member("foreign"), RemoveWhy::Foreign)));
}

#[test]
fn a_wanted_entitlement_is_added_when_missing_or_not_yet_owned() {
    let governed = governed(&[rule(ForeignPolicy::Alert)]);
    // A change interrupted after the ledger's intent: present but owned → nothing; missing → add.
    let wanted = set(&[member("a"), member("b"), member("c")]);
    let ledger = set(&[member("a"), member("b")]);
    let actual = set(&[member("a"), member("c")]);
    let steps = plan(&wanted, &ledger, &actual, &governed);
    assert_eq!(steps, [Step::Add(member("b")), Step::Add(member("c"))]);
}
