// The tables of migrations/, as `diesel print-schema` writes them (see diesel.toml).

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::*;

    users (id) {
        id -> Uuid,
        email -> Text,
        role -> UserRole,
        display_name -> Text,
        password_hash -> Nullable<Text>,
        totp_secret -> Nullable<Text>,
        totp_enabled -> Bool,
        totp_last_step -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        email_verified_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::*;

    account_tokens (token_hash) {
        token_hash -> Bytea,
        user_id -> Uuid,
        purpose -> AccountTokenPurpose,
        email -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::*;

    user_identities (provider, subject) {
        provider -> AuthProvider,
        subject -> Text,
        user_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    auth_sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Bytea,
        session_id -> Uuid,
        issued_at -> Timestamptz,
        expires_at -> Timestamptz,
        rotated_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::*;

    talent_profiles (user_id) {
        user_id -> Uuid,
        stage_name -> Text,
        headline -> Nullable<Text>,
        bio -> Nullable<Text>,
        city -> Nullable<Text>,
        country -> Nullable<Text>,
        gender -> Nullable<Text>,
        playing_age_min -> Nullable<Int4>,
        playing_age_max -> Nullable<Int4>,
        height_cm -> Nullable<Int4>,
        languages -> Jsonb,
        accents -> Array<Text>,
        work_authorizations -> Array<Text>,
        union_status -> UnionStatus,
        notable_works -> Jsonb,
        production_experience_years -> Int4,
        awards -> Jsonb,
        dream_gigs -> Array<Text>,
        skills -> Array<Text>,
        rate_min -> Nullable<Int4>,
        rate_max -> Nullable<Int4>,
        currency -> Text,
        availability -> Jsonb,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    producer_profiles (user_id) {
        user_id -> Uuid,
        company -> Text,
        title -> Nullable<Text>,
        bio -> Nullable<Text>,
        website -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::*;

    jobs (id) {
        id -> Uuid,
        producer_id -> Uuid,
        title -> Text,
        description -> Text,
        project_name -> Nullable<Text>,
        production_type -> ProductionType,
        city -> Nullable<Text>,
        country -> Nullable<Text>,
        remote -> Bool,
        pay_min -> Nullable<Int4>,
        pay_max -> Nullable<Int4>,
        currency -> Text,
        requirements -> Jsonb,
        shoot_start -> Nullable<Timestamptz>,
        shoot_end -> Nullable<Timestamptz>,
        application_deadline -> Timestamptz,
        status -> JobStatus,
        flier -> Nullable<Jsonb>,
        published_at -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        deadline_reminded_at -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        match_weights -> Nullable<Jsonb>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::*;

    applications (id) {
        id -> Uuid,
        job_id -> Uuid,
        talent_id -> Uuid,
        stage -> ApplicationStage,
        rejected_from -> Nullable<ApplicationStage>,
        cover_note -> Nullable<Text>,
        version -> Int4,
        created_at -> Timestamptz,
        stage_changed_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::*;

    application_events (id) {
        id -> Uuid,
        application_id -> Uuid,
        from_stage -> Nullable<ApplicationStage>,
        to_stage -> ApplicationStage,
        actor_id -> Nullable<Uuid>,
        reason -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    talent_groups (id) {
        id -> Uuid,
        name -> Text,
        description -> Nullable<Text>,
        owner_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::*;

    group_memberships (group_id, talent_id) {
        group_id -> Uuid,
        talent_id -> Uuid,
        role -> GroupRole,
        status -> MembershipStatus,
        invited_by -> Nullable<Uuid>,
        invited_at -> Timestamptz,
        joined_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    favorite_lists (id) {
        id -> Uuid,
        producer_id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    favorite_list_items (list_id, talent_id) {
        list_id -> Uuid,
        talent_id -> Uuid,
        added_at -> Timestamptz,
    }
}

diesel::joinable!(account_tokens -> users (user_id));
diesel::joinable!(user_identities -> users (user_id));
diesel::joinable!(auth_sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> auth_sessions (session_id));
diesel::joinable!(talent_profiles -> users (user_id));
diesel::joinable!(producer_profiles -> users (user_id));
diesel::joinable!(jobs -> producer_profiles (producer_id));
diesel::joinable!(applications -> jobs (job_id));
diesel::joinable!(applications -> talent_profiles (talent_id));
diesel::joinable!(application_events -> applications (application_id));
diesel::joinable!(talent_groups -> users (owner_id));
diesel::joinable!(group_memberships -> talent_groups (group_id));
diesel::joinable!(group_memberships -> talent_profiles (talent_id));
diesel::joinable!(favorite_lists -> users (producer_id));
diesel::joinable!(favorite_list_items -> favorite_lists (list_id));
diesel::joinable!(favorite_list_items -> talent_profiles (talent_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    account_tokens,
    user_identities,
    auth_sessions,
    refresh_tokens,
    talent_profiles,
    producer_profiles,
    jobs,
    applications,
    application_events,
    talent_groups,
    group_memberships,
    favorite_lists,
    favorite_list_items,
);

diesel::table! {
    outbox_events (seq) {
        seq -> Int8,
        id -> Uuid,
        kind -> Text,
        job_id -> Nullable<Uuid>,
        payload -> Jsonb,
        created_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
        documented_at -> Nullable<Timestamptz>,
        mailed_at -> Nullable<Timestamptz>,
    }
}
