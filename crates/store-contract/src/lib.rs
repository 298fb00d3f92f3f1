#![doc = include_str!("../README.md")]

mod cases;
mod fixture;

pub use cases::*;
pub use fixture::Fixture;

/// Expands to one `#[tokio::test]` per contract case, each on a fresh store from `$make`.
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@cases $make;
            tenant_isolation,
            not_found_versus_empty,
            concurrent_accepts_of_one_invite_exactly_one_wins,
            concurrent_joins_by_one_user_exactly_one_wins,
            concurrent_ownership_transfers_leave_exactly_one_owner,
            concurrent_writes_never_fork_the_audit_chain,
            pagination_is_stable_and_complete,
            failed_use_cases_leave_no_row_and_no_audit_event,
            every_mutation_is_audited_in_a_verifiable_chain,
            removal_and_demotion_take_effect_on_the_next_request,
            invites_are_single_use_and_expire_exactly_at_expiry,
            sign_in_links_are_single_use_and_expire,
            sessions_expire_idle_and_absolute_and_are_revocable,
            users_are_keyed_by_issuer_and_subject,
            two_workers_never_hold_the_same_task,
            an_expired_lease_is_taken_again_and_completes_once,
            failures_back_off_then_the_task_is_dead,
            dumps_page_completely_and_restores_are_atomic,
            invites_die_with_their_creators_authority,
            a_role_round_trip_revives_no_grant_and_no_invite,
            writes_decided_on_stale_roles_are_refused,
            concurrent_job_edits_do_not_overwrite_each_other,
            workers_run_handlers_and_the_clean_up_keeps_what_is_live,
            a_running_task_keeps_its_lease_by_heartbeat,
            a_worker_killed_mid_job_leaves_exactly_one_completed_run,
            member_sessions_are_listed_and_revoked_one_by_one,
            redirect_sign_ins_are_single_use_bound_and_expiring,
            auth_flows_are_taken_once,
            bearer_users_are_found_by_issuer_and_subject,
            photos_follow_their_job_and_stay_in_their_workspace,
            bad_uploads_leave_nothing,
            photos_go_to_trash_come_back_and_purge_for_good,
            photo_pages_are_stable_and_complete,
            uploads_are_processed_by_the_worker,
            photo_locations_follow_the_workspace_setting,
            an_upload_cut_off_before_its_row_leaves_no_orphan_blob,
            an_upload_outlived_by_its_uploaders_standing_stores_nothing,
            a_ticket_file_outlived_by_its_senders_standing_stores_nothing,
            reports_follow_their_job_and_hold_only_its_photos,
            assets_are_workspace_records_members_edit_and_admins_delete,
            asset_imports_are_all_or_nothing_and_idempotent,
            an_import_cut_short_writes_nothing,
            tickets_are_worked_by_members_and_restricted_see_only_theirs,
            submit_links_open_tickets_and_tracking_tokens_reach_only_theirs,
            a_ticket_takes_at_most_its_files_under_concurrent_attaches,
            reports_are_edited_whole_and_show_only_live_photos,
            reports_go_to_trash_come_back_and_purge_for_good,
            share_links_follow_their_job_and_show_only_live_content,
            links_end_with_their_makers_authority,
            password_attempts_are_limited_through_the_store,
            a_batch_of_views_keeps_every_audit_chain_intact,
            pages_read_with_their_views_record_each_view_once,
            anonymous_views_reach_the_audit_log_once_an_hour,
        );
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_copy_reproduces_the_instance() {
            let (from, to) = ($make.await, $make.await);
            $crate::a_copy_reproduces_the_instance($crate::Subject::store(&from), $crate::Subject::store(&to)).await;
            drop((from, to));
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let subject = $make.await;
            $crate::$case($crate::Subject::store(&subject)).await;
            drop(subject);
        }
    )*};
}

pub use workvault_domain::ports::Store;

use std::sync::Arc;

/// What a store's factory hands the suite: the store, and whatever must live as long
/// as the test (a temporary directory, a throwaway database).
pub trait Subject {
    /// The store under test.
    fn store(&self) -> Arc<dyn Store>;
}

impl<S: Store + 'static> Subject for Arc<S> {
    fn store(&self) -> Arc<dyn Store> {
        self.clone()
    }
}

/// A store with a guard that is dropped after the test.
impl<G> Subject for (Arc<dyn Store>, G) {
    fn store(&self) -> Arc<dyn Store> {
        self.0.clone()
    }
}
