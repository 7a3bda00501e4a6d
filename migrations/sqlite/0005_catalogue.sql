-- UpdatePrivacyAgreementRecord (POST /v2/{project_id}/privacy-agreements): who of a project last
-- accepted the privacy statement, and when (Unix ms). One row per project; a new acceptance
-- replaces it.
create table privacy_agreements (
    project_id text primary key,
    accepted_by text not null,
    accepted_at bigint not null
);
