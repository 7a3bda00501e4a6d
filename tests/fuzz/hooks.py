"""OMS's answers to schema-valid requests that JSON Schema cannot predict.

Schemathesis's `positive_data_acceptance` check wants every request the OpenAPI document calls
valid to be accepted (or to be refused with 401, 403 or 404). OMS, for compatibility with Huawei
Cloud OMS v2, answers some of them with 400 on purpose, and the document cannot rule them out
because they depend on what is stored or on rules JSON Schema cannot state. The configuration
lets 400 through that check, and this check lets through only those answers:

- OMS.1009: no such task (OMS answers a missing task with 400; a missing group is a 404);
- OMS.0063, OMS.0065, OMS.0066, OMS.0070, and OMS.0064 with the words of a transition the
  status does not allow (resume of a failed group, retry of one that has not failed): the task
  or group's status does not allow the verb;
- OMS.0064 for the rules the document states in words only: bandwidth windows may not overlap
  or end where they start; a start, resume or retry needs the credentials of the source of what
  it starts (known from the task, not from the body); a Google key file must be a
  service-account JSON; a sync event's keys are 1-1024 bytes of UTF-8 once decoded; a
  statistics range ends after it starts; a notification topic is an SMN URN of the caller's
  own project.
- OMS.0153 from the bucket helpers (`/objectstorage/buckets...`): the store they ask refused,
  cannot be reached or has no such bucket, which depends on the stores, not on the request;
  and OMS.0064 from them for what only the store's answer shows (a list file that is not
  `text/plain`, or has a bad line), for the credentials each cloud needs, and for a CDN domain
  the address guard refuses.

Any other 400 to a schema-valid request is a finding: the document says less than the API
enforces.
"""

import re

import schemathesis

STATE_CODES = {"OMS.1009", "OMS.0063", "OMS.0065", "OMS.0066", "OMS.0070"}
STORE_CODES = {"OMS.0153"}

RULES_IN_WORDS = [
    re.compile(p)
    for p in (
        # Transitions that OMS answers with OMS.0064 (oms_core::error::TransitionError).
        r"^the task group failed; use retry to run it again$",
        r"^only a failed task group can be retried; a paused one is resumed with start$",
        r"^the (task|task group) cannot go from status \d+ by ",
        r"^Invalid request parameters: bandwidth_policy\[\d+\]\.end must differ from start$",
        r"^Invalid request parameters: bandwidth_policy\[\d+\] window \S+ overlaps window \d+ ",
        r"^Invalid request parameters: (src_ak|src_sk) is required for \w+ sources$",
        r"^Invalid request parameters: (src_ak|src_sk|connection_string|json_auth_file) is required for (Azure|Google) sources$",
        r"^Invalid request parameters: connection_string (must be a list of Key=Value pairs|names no AccountName)",
        r"^Invalid request parameters: source_cdn_authentication_key is required: the source CDN uses ",
        r"^Invalid request parameters: (src_node\.)?json_auth_file (is not valid JSON|must be a JSON object|has no client_email|has no private_key)",
        # The bucket helpers: which credentials each cloud needs, what only a store shows.
        r"^Invalid request parameters: (ak|sk|connection_string|json_auth_file) is required for \w+ sources$",
        r"^Invalid request parameters: cloud_type URLSource has no buckets",
        r"^Invalid request parameters: data_center is required$",
        r"^Invalid request parameters: cloud_type \w+ accounts cannot be asked for their buckets",
        r"^Invalid request parameters: list_file_key the (list file|folder) ",
        r"^Invalid request parameters: source_cdn\.domain the CDN domain: ",
        # Sync events: keys are checked once decoded (UTF-8, 1-1024 bytes).
        r"^Invalid request parameters: object_keys\[\d+\] (is not a URL-encoded UTF-8 key|must be 1 to 1024 bytes once decoded)",
        # Sync statistics: a range in order.
        r"^Invalid request parameters: end_time must not be before start_time$",
        # Encryption: a key id goes with KMS, a CDN cannot serve KMS-encrypted keys, and a
        # start or retry cannot change what a task writes with.
        r"^Invalid request parameters: [\w.]*kms_key_id is only used with [\w.]*crypto_type KMS$",
        r"^Invalid request parameters: source_cdn(\.|_)crypto_type KMS cannot be honoured for a CDN",
        r"^Invalid request parameters: dst_(crypto_type|kms_key_id) asks for .* a start cannot change it",
        r"^Invalid request parameters: enable_kms asks for KMS encryption, and ",
        r"^Invalid request parameters: [\w.]*kms_key_id must be a KMS key id: ",
        # A notification topic must be an SMN URN of the caller's own project.
        r"^Invalid request parameters: smn_config\.topic_urn must be a topic of this project: ",
    )
]


@schemathesis.check
def oms_valid_requests_are_refused_only_for_state_or_rules_in_words(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    try:
        body = response.json()
    except Exception:
        body = {}
    code = body.get("error_code", "")
    message = body.get("error_msg", "")
    if code in STATE_CODES:
        return None
    if code in STORE_CODES and "/objectstorage/buckets" in case.path:
        return None
    if code == "OMS.0064" and any(rule.search(message) for rule in RULES_IN_WORDS):
        return None
    raise AssertionError(
        f"A request the document calls valid was refused: {code} {message}"
    )
