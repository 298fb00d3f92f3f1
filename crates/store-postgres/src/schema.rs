// The diesel schema of `migrations/postgres`. Checked against the migrated database by
// `tests/postgres.rs`.

diesel::table! {
    users (id) {
        id -> Uuid,
        issuer -> Text,
        subject -> Text,
        email -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    workspaces (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
        show_photo_location -> Bool,
        share_view_retention_days -> Nullable<Integer>,
    }
}

diesel::table! {
    memberships (workspace_id, user_id) {
        workspace_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    jobs (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        title -> Text,
        description -> Nullable<Text>,
        address -> Nullable<Text>,
        status -> Text,
        created_by -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    grants (job_id, user_id) {
        job_id -> Uuid,
        user_id -> Uuid,
        workspace_id -> Uuid,
        granted_by -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    invites (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        role -> Text,
        email -> Nullable<Text>,
        token_hash -> Bytea,
        created_by -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        accepted_by -> Nullable<Uuid>,
        accepted_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sign_in_links (token_hash) {
        token_hash -> Bytea,
        email -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        token_hash -> Bytea,
        user_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        seq -> Int8,
        at -> Timestamptz,
        actor -> Text,
        action -> Text,
        target_kind -> Text,
        target_id -> Text,
        details -> Text,
        request_id -> Nullable<Uuid>,
        prev_hash -> Bytea,
        hash -> Bytea,
    }
}

diesel::table! {
    audit_heads (workspace_id) {
        workspace_id -> Uuid,
        seq -> Int8,
        hash -> Bytea,
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
        id -> Uuid,
        kind -> Text,
        payload -> Text,
        state -> Text,
        attempts -> Int4,
        max_attempts -> Int4,
        run_at -> Timestamptz,
        lease_until -> Nullable<Timestamptz>,
        locked_by -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    auth_flows (state_hash) {
        state_hash -> Bytea,
        nonce -> Text,
        pkce_verifier -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    photos (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        job_id -> Uuid,
        image_type -> Text,
        size -> BigInt,
        sha256 -> Bytea,
        file_name -> Nullable<Text>,
        created_by -> Uuid,
        created_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
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
        id -> Uuid,
        workspace_id -> Uuid,
        job_id -> Uuid,
        title -> Text,
        notes -> Nullable<Text>,
        created_by -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    report_items (report_id, position) {
        report_id -> Uuid,
        position -> Integer,
        photo_id -> Uuid,
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
        id -> Uuid,
        workspace_id -> Uuid,
        job_id -> Uuid,
        target_kind -> Text,
        report_id -> Nullable<Uuid>,
        photo_id -> Nullable<Uuid>,
        token_hash -> Bytea,
        password_hash -> Nullable<Text>,
        allow_download -> Bool,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        created_by -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    share_views (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        link_id -> Uuid,
        at -> Timestamptz,
        viewed -> Text,
        network -> Text,
        browser -> Text,
    }
}

diesel::table! {
    rate_limits (key, window_start) {
        key -> Text,
        window_start -> Timestamptz,
        count -> Integer,
    }
}

diesel::allow_tables_to_appear_in_same_query!(share_links, jobs);
diesel::allow_tables_to_appear_in_same_query!(share_links, memberships);
diesel::allow_tables_to_appear_in_same_query!(share_links, grants);

diesel::table! {
    asset_fields (workspace_id, key) {
        workspace_id -> Uuid,
        key -> Text,
        label -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    assets (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        name -> Text,
        tag -> Nullable<Text>,
        serial -> Nullable<Text>,
        category -> Nullable<Text>,
        status -> Text,
        location -> Nullable<Text>,
        assignee_id -> Nullable<Uuid>,
        purchase_date -> Nullable<Date>,
        cost_cents -> Nullable<BigInt>,
        notes -> Nullable<Text>,
        custom -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(assets, memberships);
diesel::allow_tables_to_appear_in_same_query!(assets, users);

diesel::table! {
    submit_links (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        token_hash -> Bytea,
        created_by -> Uuid,
        created_at -> Timestamptz,
        disabled_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    tickets (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        subject -> Text,
        body -> Text,
        status -> Text,
        priority -> Text,
        assignee_id -> Nullable<Uuid>,
        requester_name -> Nullable<Text>,
        requester_email -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        submit_link_id -> Nullable<Uuid>,
        track_hash -> Nullable<Bytea>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    ticket_replies (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        ticket_id -> Uuid,
        author_id -> Nullable<Uuid>,
        by_requester -> Bool,
        body -> Text,
        created_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(tickets, memberships);
diesel::allow_tables_to_appear_in_same_query!(tickets, users);
diesel::allow_tables_to_appear_in_same_query!(ticket_replies, users);
diesel::allow_tables_to_appear_in_same_query!(submit_links, workspaces);

diesel::table! {
    ticket_attachments (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        ticket_id -> Uuid,
        kind -> Text,
        file_name -> Nullable<Text>,
        size -> BigInt,
        sha256 -> Bytea,
        by_requester -> Bool,
        created_at -> Timestamptz,
    }
}
