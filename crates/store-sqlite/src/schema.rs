// The diesel schema of `migrations/sqlite`. Checked against the migrated database by
// `tests/migrations.rs`.

diesel::table! {
    users (id) {
        id -> Text,
        issuer -> Text,
        subject -> Text,
        email -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    workspaces (id) {
        id -> Text,
        name -> Text,
        created_at -> BigInt,
        show_photo_location -> Bool,
        share_view_retention_days -> Nullable<Integer>,
    }
}

diesel::table! {
    memberships (workspace_id, user_id) {
        workspace_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        workspace_id -> Text,
        title -> Text,
        description -> Nullable<Text>,
        address -> Nullable<Text>,
        status -> Text,
        created_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    grants (job_id, user_id) {
        job_id -> Text,
        user_id -> Text,
        workspace_id -> Text,
        granted_by -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    invites (id) {
        id -> Text,
        workspace_id -> Text,
        role -> Text,
        email -> Nullable<Text>,
        token_hash -> Binary,
        created_by -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        accepted_by -> Nullable<Text>,
        accepted_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sign_in_links (token_hash) {
        token_hash -> Binary,
        email -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        token_hash -> Binary,
        user_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        last_seen_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_events (workspace_id, seq) {
        id -> Text,
        workspace_id -> Text,
        seq -> BigInt,
        at -> BigInt,
        actor -> Text,
        action -> Text,
        target_kind -> Text,
        target_id -> Text,
        details -> Text,
        request_id -> Nullable<Text>,
        prev_hash -> Binary,
        hash -> Binary,
    }
}

diesel::table! {
    audit_heads (workspace_id) {
        workspace_id -> Text,
        seq -> BigInt,
        hash -> Binary,
    }
}

diesel::joinable!(memberships -> workspaces (workspace_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(jobs -> workspaces (workspace_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    workspaces,
    memberships,
    jobs,
    grants,
    invites,
    sign_in_links,
    sessions,
    audit_events,
    audit_heads,
);

diesel::table! {
    tasks (id) {
        id -> Text,
        kind -> Text,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        max_attempts -> Integer,
        run_at -> BigInt,
        lease_until -> Nullable<BigInt>,
        locked_by -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    auth_flows (state_hash) {
        state_hash -> Binary,
        nonce -> Text,
        pkce_verifier -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    photos (id) {
        id -> Text,
        workspace_id -> Text,
        job_id -> Text,
        image_type -> Text,
        size -> BigInt,
        sha256 -> Binary,
        file_name -> Nullable<Text>,
        created_by -> Text,
        created_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
        status -> Text,
        width -> Nullable<Integer>,
        height -> Nullable<Integer>,
        taken_at -> Nullable<Text>,
        has_location -> Bool,
        large_size -> Nullable<BigInt>,
        thumb_size -> Nullable<BigInt>,
    }
}

diesel::joinable!(photos -> jobs (job_id));
diesel::allow_tables_to_appear_in_same_query!(photos, jobs);
diesel::allow_tables_to_appear_in_same_query!(photos, memberships);
diesel::allow_tables_to_appear_in_same_query!(photos, grants);

diesel::table! {
    reports (id) {
        id -> Text,
        workspace_id -> Text,
        job_id -> Text,
        title -> Text,
        notes -> Nullable<Text>,
        created_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    report_items (report_id, position) {
        report_id -> Text,
        position -> Integer,
        photo_id -> Text,
        caption -> Nullable<Text>,
    }
}

diesel::joinable!(reports -> jobs (job_id));
diesel::joinable!(report_items -> reports (report_id));
diesel::allow_tables_to_appear_in_same_query!(reports, jobs);
diesel::allow_tables_to_appear_in_same_query!(reports, memberships);
diesel::allow_tables_to_appear_in_same_query!(reports, grants);
diesel::allow_tables_to_appear_in_same_query!(reports, photos);
diesel::allow_tables_to_appear_in_same_query!(reports, report_items);
diesel::allow_tables_to_appear_in_same_query!(report_items, jobs);
diesel::allow_tables_to_appear_in_same_query!(report_items, memberships);
diesel::allow_tables_to_appear_in_same_query!(report_items, grants);
diesel::allow_tables_to_appear_in_same_query!(report_items, photos);

diesel::table! {
    share_links (id) {
        id -> Text,
        workspace_id -> Text,
        job_id -> Text,
        target_kind -> Text,
        report_id -> Nullable<Text>,
        photo_id -> Nullable<Text>,
        token_hash -> Binary,
        password_hash -> Nullable<Text>,
        allow_download -> Bool,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        created_by -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    share_views (link_id, at, id) {
        id -> Text,
        workspace_id -> Text,
        link_id -> Text,
        at -> BigInt,
        viewed -> Text,
        network -> Text,
        browser -> Text,
    }
}

diesel::table! {
    rate_limits (key, window_start) {
        key -> Text,
        window_start -> BigInt,
        count -> Integer,
    }
}

diesel::allow_tables_to_appear_in_same_query!(share_links, jobs);
diesel::allow_tables_to_appear_in_same_query!(share_links, memberships);
diesel::allow_tables_to_appear_in_same_query!(share_links, grants);

diesel::table! {
    asset_fields (workspace_id, key) {
        workspace_id -> Text,
        key -> Text,
        label -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    assets (id) {
        id -> Text,
        workspace_id -> Text,
        name -> Text,
        tag -> Nullable<Text>,
        serial -> Nullable<Text>,
        category -> Nullable<Text>,
        status -> Text,
        location -> Nullable<Text>,
        assignee_id -> Nullable<Text>,
        purchase_date -> Nullable<Date>,
        cost_cents -> Nullable<BigInt>,
        notes -> Nullable<Text>,
        custom -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(assets, memberships);
diesel::allow_tables_to_appear_in_same_query!(assets, users);

diesel::table! {
    submit_links (id) {
        id -> Text,
        workspace_id -> Text,
        token_hash -> Binary,
        created_by -> Text,
        created_at -> BigInt,
        disabled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    tickets (id) {
        id -> Text,
        workspace_id -> Text,
        subject -> Text,
        body -> Text,
        status -> Text,
        priority -> Text,
        assignee_id -> Nullable<Text>,
        requester_name -> Nullable<Text>,
        requester_email -> Nullable<Text>,
        created_by -> Nullable<Text>,
        submit_link_id -> Nullable<Text>,
        track_hash -> Nullable<Binary>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    ticket_replies (id) {
        id -> Text,
        workspace_id -> Text,
        ticket_id -> Text,
        author_id -> Nullable<Text>,
        by_requester -> Bool,
        body -> Text,
        created_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(tickets, memberships);
diesel::allow_tables_to_appear_in_same_query!(tickets, users);
diesel::allow_tables_to_appear_in_same_query!(ticket_replies, users);
diesel::allow_tables_to_appear_in_same_query!(submit_links, workspaces);

diesel::table! {
    ticket_attachments (id) {
        id -> Text,
        workspace_id -> Text,
        ticket_id -> Text,
        kind -> Text,
        file_name -> Nullable<Text>,
        size -> BigInt,
        sha256 -> Binary,
        by_requester -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    view_journal (segment) {
        segment -> Text,
    }
}
