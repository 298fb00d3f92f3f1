//! The policy, tested exhaustively: every role (and non-member) × every action ×
//! every shape of resource facts, generated, checked against the written spec below.

use super::*;

/// The spec, as the product describes it. `A` allow, `G` only when granted, `-` deny.
/// Columns: owner admin member restricted.
const SPEC: &str = "
view_workspace      A A A A
update_workspace    A A - -
list_members        A A A -
invite_member       A A - -
manage_invites      A A - -
change_role         A A - -
remove_member       A A - -
transfer_ownership  A - - -
view_audit          A A - -
create_job          A A A -
list_jobs           A A A A
view_job            A A A G
update_job          A A A G
delete_job          A A - -
manage_grants       A A - -
manage_sessions     A A - -
view_original       A A - -
share_job           A A A G
view_assets         A A A -
edit_assets         A A A -
delete_assets       A A - -
import_assets       A A - -
export_records      A A - -
list_tickets        A A A A
create_ticket       A A A -
view_ticket         A A A G
work_ticket         A A A G
assign_ticket       A A A -
manage_submit_links A A - -
";

fn action_name(action: Action) -> String {
    serde_json::to_value(action).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn spec_rule(role: Role, action: Action) -> Rule {
    let column = match role {
        Role::Owner => 1,
        Role::Admin => 2,
        Role::Member => 3,
        Role::Restricted => 4,
    };
    let name = action_name(action);
    let line = SPEC
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .unwrap_or_else(|| panic!("action {name} missing from the spec"));
    match line.split_whitespace().nth(column) {
        Some("A") => Rule::Allow,
        Some("G") => Rule::IfGranted,
        Some("-") => Rule::Deny,
        other => panic!("bad spec cell {other:?} for {name}"),
    }
}

fn every_resource(action: Action) -> Vec<ResourceFacts> {
    if action.is_job_scoped() {
        return vec![ResourceFacts::Job { granted: false }, ResourceFacts::Job { granted: true }];
    }
    if action.is_ticket_scoped() {
        return vec![ResourceFacts::Ticket { assigned: false }, ResourceFacts::Ticket { assigned: true }];
    }
    if action.targets_member() || action == Action::InviteMember {
        let targets: Vec<Option<Role>> =
            if action == Action::InviteMember { vec![None] } else { Role::ALL.into_iter().map(Some).collect() };
        let mut all = Vec::new();
        for target in targets {
            for assigned in std::iter::once(None).chain(Role::ALL.into_iter().map(Some)) {
                all.push(ResourceFacts::Member { target, assigned });
            }
        }
        return all;
    }
    vec![ResourceFacts::Workspace]
}

/// The expected decision, derived from the spec and the product's stated rules,
/// independently of `decide`'s control flow.
fn expected(role: Option<Role>, action: Action, resource: ResourceFacts) -> Decision {
    let Some(role) = role else {
        return Decision::Deny(DenyReason::NotMember);
    };
    let granted = matches!(resource, ResourceFacts::Job { granted: true } | ResourceFacts::Ticket { assigned: true });
    let is_job = matches!(resource, ResourceFacts::Job { .. } | ResourceFacts::Ticket { .. });
    if role == Role::Restricted && is_job && !granted {
        return Decision::Deny(DenyReason::NotGranted);
    }
    match spec_rule(role, action) {
        Rule::Deny => return Decision::Deny(DenyReason::RoleInsufficient),
        Rule::IfGranted if !granted => return Decision::Deny(DenyReason::NotGranted),
        _ => {}
    }
    if let ResourceFacts::Member { target, assigned } = resource {
        let rank = |r: Role| Role::ALL.iter().position(|x| *x == r).unwrap_or(0);
        if let Some(t) = target {
            let reachable = t != Role::Owner && (role == Role::Owner || rank(t) < rank(role));
            if !reachable {
                return Decision::Deny(DenyReason::TargetOutOfReach);
            }
        }
        if let Some(a) = assigned {
            let assignable = a != Role::Owner && (role == Role::Owner || rank(a) < rank(role));
            if !assignable {
                return Decision::Deny(DenyReason::RoleNotAssignable);
            }
        }
    }
    Decision::Allow
}

fn every_role() -> impl Iterator<Item = Option<Role>> {
    std::iter::once(None).chain(Role::ALL.into_iter().map(Some))
}

#[test]
fn table_matches_the_written_spec_cell_by_cell() {
    let mut cells = 0;
    for role in Role::ALL {
        for action in Action::ALL {
            assert_eq!(rule(role, action), spec_rule(role, action), "{role:?} × {action:?}");
            cells += 1;
        }
    }
    assert_eq!(cells, 4 * 29);
    assert_eq!(SPEC.lines().filter(|l| !l.trim().is_empty()).count(), Action::ALL.len());
}

#[test]
fn every_role_action_and_resource_case_decides_as_specified() {
    let mut cases = 0;
    for role in every_role() {
        for action in Action::ALL {
            for resource in every_resource(action) {
                let got = decide(ActorFacts { role }, action, resource);
                assert_eq!(got, expected(role, action, resource), "{role:?} {action:?} {resource:?}");
                cases += 1;
            }
        }
    }
    // 5 standings × (17 workspace-level + (6 job-scoped + 2 ticket-scoped) × 2 + invite 5
    // + 3 × 20 member cases)
    assert_eq!(cases, 5 * (17 + 8 * 2 + 5 + 3 * 20));
}

#[test]
fn other_workspace_is_always_not_found_whatever_the_action() {
    for action in Action::ALL {
        for resource in every_resource(action) {
            let d = decide(ActorFacts { role: None }, action, resource);
            assert_eq!(d, Decision::Deny(DenyReason::NotMember));
            assert!(DenyReason::NotMember.hides_existence());
        }
    }
}

#[test]
fn privilege_is_monotonic_up_the_role_lattice() {
    // Whatever a role may do, every higher role may do too.
    for action in Action::ALL {
        for resource in every_resource(action) {
            for (i, lower) in Role::ALL.iter().enumerate() {
                for higher in &Role::ALL[i..] {
                    let lo = decide(ActorFacts { role: Some(*lower) }, action, resource);
                    let hi = decide(ActorFacts { role: Some(*higher) }, action, resource);
                    if lo == Decision::Allow {
                        assert_eq!(
                            hi,
                            Decision::Allow,
                            "{lower:?} allowed but {higher:?} not: {action:?} {resource:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_restricted_member_never_learns_of_an_ungranted_job() {
    for action in Action::ALL.into_iter().filter(|a| a.is_job_scoped()) {
        let d = decide(ActorFacts { role: Some(Role::Restricted) }, action, ResourceFacts::Job { granted: false });
        assert_eq!(d, Decision::Deny(DenyReason::NotGranted), "{action:?}");
    }
}

#[test]
fn nobody_assigns_owner_and_nobody_manages_the_owner() {
    for role in Role::ALL {
        assert!(!role.may_assign(Role::Owner));
        assert!(!role.may_manage(Role::Owner));
    }
}

#[test]
fn a_role_justifies_the_invites_it_could_make_and_grants_only_where_they_extend_it() {
    let roles = |r: Role| Justified::by(r).invite_roles;
    assert_eq!(roles(Role::Owner), [Role::Restricted, Role::Member, Role::Admin]);
    assert_eq!(roles(Role::Admin), [Role::Restricted, Role::Member]);
    assert!(roles(Role::Member).is_empty());
    assert!(roles(Role::Restricted).is_empty());
    let grants: Vec<bool> = Role::ALL.into_iter().map(|r| Justified::by(r).grants).collect();
    assert_eq!(grants, [true, false, false, false], "only a Restricted member holds grants");
    // The same decision as creating an invite, cell by cell.
    for actor in Role::ALL {
        for invited in Role::ALL {
            let facts = ResourceFacts::Member { target: None, assigned: Some(invited) };
            let allowed = decide(ActorFacts { role: Some(actor) }, Action::InviteMember, facts) == Decision::Allow;
            assert_eq!(Justified::by(actor).invite_roles.contains(&invited), allowed, "{actor:?} invites {invited:?}");
        }
    }
}
