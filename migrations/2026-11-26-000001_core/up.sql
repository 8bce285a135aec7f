-- Core relational model: users and their sessions, profiles, jobs, applications and their
-- history, talent groups and producer favorite lists.

CREATE TYPE user_role AS ENUM ('TALENT', 'PRODUCER', 'ADMIN');
CREATE TYPE auth_provider AS ENUM ('GOOGLE', 'FACEBOOK', 'LINKEDIN');
CREATE TYPE union_status AS ENUM ('NON_UNION', 'SAG_AFTRA', 'EQUITY', 'OTHER');
CREATE TYPE production_type AS ENUM ('FILM', 'TV', 'COMMERCIAL', 'THEATRE', 'VOICE', 'MUSIC_VIDEO', 'MODELING', 'OTHER');
CREATE TYPE job_status AS ENUM ('DRAFT', 'OPEN', 'CLOSED', 'FILLED', 'CANCELLED');
CREATE TYPE application_stage AS ENUM ('APPLIED', 'SHORTLISTED', 'AUDITION', 'CALLBACK', 'OFFERED', 'HIRED', 'REJECTED', 'WITHDRAWN');
CREATE TYPE group_role AS ENUM ('OWNER', 'ADMIN', 'MEMBER');
CREATE TYPE membership_status AS ENUM ('INVITED', 'ACTIVE');

CREATE TABLE users (
    id                 UUID PRIMARY KEY,
    email              TEXT NOT NULL,
    role               user_role NOT NULL,
    display_name       TEXT NOT NULL,
    password_hash      TEXT,
    totp_secret        TEXT,
    totp_enabled       BOOLEAN NOT NULL DEFAULT FALSE,
    totp_last_step     BIGINT,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_email_lowercase CHECK (email = lower(email)),
    CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 3 AND 254),
    CONSTRAINT users_display_name_length CHECK (char_length(display_name) BETWEEN 1 AND 100),
    CONSTRAINT users_totp_enabled_has_secret CHECK (NOT totp_enabled OR totp_secret IS NOT NULL)
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- A user signed in through an identity provider; one row per provider account.
CREATE TABLE user_identities (
    provider    auth_provider NOT NULL,
    subject     TEXT NOT NULL,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);
CREATE INDEX user_identities_user_id_idx ON user_identities (user_id);

-- A login session: the family of refresh tokens that rotate from one sign-in.
CREATE TABLE auth_sessions (
    id             UUID PRIMARY KEY,
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at     TIMESTAMPTZ NOT NULL,
    revoked_at     TIMESTAMPTZ,
    revoked_reason TEXT
);
CREATE INDEX auth_sessions_user_id_idx ON auth_sessions (user_id) WHERE revoked_at IS NULL;

-- Refresh tokens are stored only as SHA-256 hashes. A token with rotated_at set was already
-- exchanged: presenting it again is reuse, and revokes its whole session.
CREATE TABLE refresh_tokens (
    token_hash  BYTEA PRIMARY KEY,
    session_id  UUID NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    issued_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    rotated_at  TIMESTAMPTZ,
    CONSTRAINT refresh_tokens_hash_length CHECK (octet_length(token_hash) = 32)
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE TABLE talent_profiles (
    user_id                     UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    stage_name                  TEXT NOT NULL,
    headline                    TEXT,
    bio                         TEXT,
    city                        TEXT,
    country                     TEXT,
    gender                      TEXT,
    playing_age_min             INTEGER,
    playing_age_max             INTEGER,
    height_cm                   INTEGER,
    languages                   JSONB NOT NULL DEFAULT '[]',
    accents                     TEXT[] NOT NULL DEFAULT '{}',
    work_authorizations         TEXT[] NOT NULL DEFAULT '{}',
    union_status                union_status NOT NULL DEFAULT 'NON_UNION',
    notable_works               JSONB NOT NULL DEFAULT '[]',
    production_experience_years INTEGER NOT NULL DEFAULT 0,
    awards                      JSONB NOT NULL DEFAULT '[]',
    dream_gigs                  TEXT[] NOT NULL DEFAULT '{}',
    skills                      TEXT[] NOT NULL DEFAULT '{}',
    rate_min                    INTEGER,
    rate_max                    INTEGER,
    currency                    TEXT NOT NULL DEFAULT 'USD',
    availability                JSONB NOT NULL DEFAULT '[]',
    version                     INTEGER NOT NULL DEFAULT 1,
    created_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    search                      TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', stage_name), 'A') ||
        setweight(to_tsvector('simple', coalesce(headline, '')), 'B') ||
        setweight(to_tsvector('simple', coalesce(bio, '')), 'C')
    ) STORED,
    CONSTRAINT talent_stage_name_length CHECK (char_length(stage_name) BETWEEN 1 AND 100),
    CONSTRAINT talent_country_code CHECK (country IS NULL OR country ~ '^[A-Z]{2}$'),
    CONSTRAINT talent_currency_code CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT talent_playing_age_range CHECK (
        (playing_age_min IS NULL OR playing_age_min BETWEEN 0 AND 120) AND
        (playing_age_max IS NULL OR playing_age_max BETWEEN 0 AND 120) AND
        (playing_age_min IS NULL OR playing_age_max IS NULL OR playing_age_min <= playing_age_max)),
    CONSTRAINT talent_height_range CHECK (height_cm IS NULL OR height_cm BETWEEN 30 AND 280),
    CONSTRAINT talent_experience_range CHECK (production_experience_years BETWEEN 0 AND 100),
    CONSTRAINT talent_rate_range CHECK (
        (rate_min IS NULL OR rate_min >= 0) AND (rate_max IS NULL OR rate_max >= 0) AND
        (rate_min IS NULL OR rate_max IS NULL OR rate_min <= rate_max)),
    CONSTRAINT talent_json_arrays CHECK (
        jsonb_typeof(languages) = 'array' AND jsonb_typeof(notable_works) = 'array' AND
        jsonb_typeof(awards) = 'array' AND jsonb_typeof(availability) = 'array')
);
CREATE INDEX talent_profiles_updated_idx ON talent_profiles (updated_at DESC, user_id DESC);
CREATE INDEX talent_profiles_search_idx ON talent_profiles USING GIN (search);

CREATE TABLE producer_profiles (
    user_id     UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    company     TEXT NOT NULL,
    title       TEXT,
    bio         TEXT,
    website     TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT producer_company_length CHECK (char_length(company) BETWEEN 1 AND 200),
    CONSTRAINT producer_website_scheme CHECK (website IS NULL OR website ~ '^https?://')
);

CREATE TABLE jobs (
    id                   UUID PRIMARY KEY,
    producer_id          UUID NOT NULL REFERENCES producer_profiles (user_id) ON DELETE CASCADE,
    title                TEXT NOT NULL,
    description          TEXT NOT NULL,
    project_name         TEXT,
    production_type      production_type NOT NULL,
    city                 TEXT,
    country              TEXT,
    remote               BOOLEAN NOT NULL DEFAULT FALSE,
    pay_min              INTEGER,
    pay_max              INTEGER,
    currency             TEXT NOT NULL DEFAULT 'USD',
    requirements         JSONB NOT NULL DEFAULT '{}',
    shoot_start          TIMESTAMPTZ,
    shoot_end            TIMESTAMPTZ,
    application_deadline TIMESTAMPTZ NOT NULL,
    status               job_status NOT NULL DEFAULT 'DRAFT',
    flier                JSONB,
    published_at         TIMESTAMPTZ,
    closed_at            TIMESTAMPTZ,
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    search               TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title), 'A') ||
        setweight(to_tsvector('simple', coalesce(project_name, '')), 'B') ||
        setweight(to_tsvector('simple', description), 'C')
    ) STORED,
    CONSTRAINT job_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT job_description_length CHECK (char_length(description) BETWEEN 1 AND 10000),
    CONSTRAINT job_country_code CHECK (country IS NULL OR country ~ '^[A-Z]{2}$'),
    CONSTRAINT job_currency_code CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT job_pay_range CHECK (
        (pay_min IS NULL OR pay_min >= 0) AND (pay_max IS NULL OR pay_max >= 0) AND
        (pay_min IS NULL OR pay_max IS NULL OR pay_min <= pay_max)),
    CONSTRAINT job_shoot_range CHECK (shoot_start IS NULL OR shoot_end IS NULL OR shoot_start <= shoot_end),
    CONSTRAINT job_requirements_object CHECK (jsonb_typeof(requirements) = 'object'),
    CONSTRAINT job_published_when_live CHECK (status IN ('DRAFT', 'CANCELLED') OR published_at IS NOT NULL)
);
CREATE INDEX jobs_status_created_idx ON jobs (status, created_at DESC, id DESC);
CREATE INDEX jobs_producer_created_idx ON jobs (producer_id, created_at DESC, id DESC);
CREATE INDEX jobs_open_deadline_idx ON jobs (application_deadline) WHERE status = 'OPEN';
CREATE INDEX jobs_country_idx ON jobs (country, status);
CREATE INDEX jobs_search_idx ON jobs USING GIN (search);

CREATE TABLE applications (
    id                  UUID PRIMARY KEY,
    job_id              UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    talent_id           UUID NOT NULL REFERENCES talent_profiles (user_id) ON DELETE CASCADE,
    stage               application_stage NOT NULL DEFAULT 'APPLIED',
    -- the stage a REJECTED application was rejected from, so a producer can undo
    rejected_from       application_stage,
    cover_note          TEXT,
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    stage_changed_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT applications_once_per_job UNIQUE (job_id, talent_id),
    CONSTRAINT applications_cover_note_length CHECK (cover_note IS NULL OR char_length(cover_note) <= 5000),
    CONSTRAINT applications_rejected_from CHECK (
        (stage = 'REJECTED') = (rejected_from IS NOT NULL) AND
        (rejected_from IS NULL OR rejected_from NOT IN ('REJECTED', 'WITHDRAWN', 'HIRED')))
);
CREATE INDEX applications_job_stage_idx ON applications (job_id, stage, created_at DESC, id DESC);
CREATE INDEX applications_job_created_idx ON applications (job_id, created_at DESC, id DESC);
CREATE INDEX applications_talent_created_idx ON applications (talent_id, created_at DESC, id DESC);

-- The pipeline's history: one row per change, never updated.
CREATE TABLE application_events (
    id              UUID PRIMARY KEY,
    application_id  UUID NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    from_stage      application_stage,
    to_stage        application_stage NOT NULL,
    actor_id        UUID REFERENCES users (id) ON DELETE SET NULL,
    reason          TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT application_events_reason_length CHECK (reason IS NULL OR char_length(reason) <= 1000)
);
CREATE INDEX application_events_application_idx ON application_events (application_id, created_at, id);

CREATE TABLE talent_groups (
    id           UUID PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT,
    owner_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT talent_groups_name_length CHECK (char_length(name) BETWEEN 1 AND 100)
);
CREATE INDEX talent_groups_owner_idx ON talent_groups (owner_id);

CREATE TABLE group_memberships (
    group_id    UUID NOT NULL REFERENCES talent_groups (id) ON DELETE CASCADE,
    talent_id   UUID NOT NULL REFERENCES talent_profiles (user_id) ON DELETE CASCADE,
    role        group_role NOT NULL DEFAULT 'MEMBER',
    status      membership_status NOT NULL DEFAULT 'INVITED',
    invited_by  UUID REFERENCES users (id) ON DELETE SET NULL,
    invited_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    joined_at   TIMESTAMPTZ,
    PRIMARY KEY (group_id, talent_id),
    CONSTRAINT group_memberships_joined CHECK ((status = 'ACTIVE') = (joined_at IS NOT NULL)),
    CONSTRAINT group_memberships_owner_active CHECK (role <> 'OWNER' OR status = 'ACTIVE')
);
CREATE UNIQUE INDEX group_memberships_one_owner ON group_memberships (group_id) WHERE role = 'OWNER';
CREATE INDEX group_memberships_talent_idx ON group_memberships (talent_id);

CREATE TABLE favorite_lists (
    id           UUID PRIMARY KEY,
    producer_id  UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT favorite_lists_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT favorite_lists_unique_name UNIQUE (producer_id, name)
);

CREATE TABLE favorite_list_items (
    list_id    UUID NOT NULL REFERENCES favorite_lists (id) ON DELETE CASCADE,
    talent_id  UUID NOT NULL REFERENCES talent_profiles (user_id) ON DELETE CASCADE,
    added_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (list_id, talent_id)
);
CREATE INDEX favorite_list_items_list_added_idx ON favorite_list_items (list_id, added_at DESC, talent_id DESC);
CREATE INDEX favorite_list_items_talent_idx ON favorite_list_items (talent_id);
