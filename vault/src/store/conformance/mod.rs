//! The conformance suite every back-end must pass: one test per behaviour, grouped by store
//! family, generated for a back-end by one line:
//!
//! ```ignore
//! crate::conformance_suite!(crate::store::conformance::fixture::sled());
//! ```
//!
//! Every store method is exercised by at least one case; the concurrency cases (reservations,
//! inserts, audit appends) run their writers on several tasks of a multi-threaded runtime.

pub(crate) mod audit;
pub(crate) mod consents;
pub(crate) mod durability;
pub(crate) mod fixture;
pub(crate) mod jobs;
pub(crate) mod keys;
pub(crate) mod mappings;
pub(crate) mod registry;
pub(crate) mod subjects;

/// Generates the whole conformance suite (one `#[tokio::test]` per case) for the back-end that
/// `$fixture` (an expression giving a [`fixture::Fixture`]) opens afresh for each case.
#[macro_export]
macro_rules! conformance_suite {
    ($fixture:expr) => {
        $crate::conformance_suite!(@families $fixture;
            registry: [
                ids_are_unique_and_never_zero,
                tenant_names_are_unique,
                a_tenant_change_raises_its_generation,
                domain_names_are_unique_per_tenant,
                purposes_are_replaced_by_name,
                record_policies_are_replaced_and_deleted_once,
                sharing_agreements_are_created_once_and_deleted_once,
                a_certificate_binds_one_principal,
                replacing_a_principal_is_compare_and_swap,
            ],
            keys: [
                key_rings_round_trip,
                replacing_a_key_ring_is_compare_and_swap,
                shredding_is_one_unit_of_work,
                reservations_add_within_the_limit,
                concurrent_reservations_never_pass_the_limit,
                budgets_count_per_window_and_never_pass_the_limit,
            ],
            mappings: [
                inserts_store_only_absent_rows,
                the_blind_index_finds_the_existing_token,
                a_blind_row_never_takes_a_held_pseudonym,
                blind_lookups_answer_in_order,
                concurrent_inserts_agree_on_one_pseudonym,
                lookups_see_only_their_domain,
                scans_page_in_pseudonym_order,
                replacing_a_ciphertext_is_compare_and_swap,
                moving_an_expiry_is_compare_and_swap,
                deleting_removes_the_row_and_its_blind_entry,
            ],
            consents: [
                consent_events_are_numbered_per_history,
                an_event_is_appended_only_as_the_next_one,
                sealing_an_event_only_adds_its_missing_mac,
                scans_list_every_event_of_a_tenant,
                deleting_consents_touches_one_subject,
                a_text_version_is_stored_once,
                evidence_is_scanned_swapped_and_deleted,
            ],
            subjects: [
                restrictions_raise_the_generation,
                tombstones_round_trip,
                subject_events_are_numbered_from_one,
                a_marker_is_set_once,
                erasure_is_one_unit_of_work,
            ],
            audit: [
                entries_are_chained_in_order,
                lazy_entries_join_the_same_chain,
                entries_are_found_by_subject,
                concurrent_appenders_never_fork_a_chain,
                checkpoints_are_kept_per_chain,
            ],
            jobs: [
                jobs_round_trip,
                a_lease_excludes_other_owners_until_it_runs_out,
                a_rotation_page_and_its_progress_are_one_unit,
                a_pending_operation_changes_state_once,
            ],
            durability: [
                sync_compaction_and_size_answer,
            ],
        );
    };
    (@families $fixture:expr; $($family:ident: [$($case:ident),* $(,)?]),* $(,)?) => {
        $(
            mod $family {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        let fixture = $fixture;
                        let Some(store) = fixture.shared() else { return };
                        $crate::store::conformance::$family::$case(store).await;
                    }
                )*
            }
        )*
    };
}
