//! Request bodies as a client would send them: the ones every crate's tests share
//! (`oms_core::testing`), and what only the end-to-end tests need.

pub use oms_core::testing::{group_body, start_body, task_body, with, without};
use serde_json::json;

/// A Google service-account JSON that reaches the XML API at `base` without OAuth (a test
/// server, or an address that never answers), naming `project` when given.
pub fn google_account(base: &str, project: Option<&str>) -> String {
    let mut account = json!({
        "type": "service_account", "client_email": "oms@example.iam.gserviceaccount.com",
        "private_key": "", "private_key_id": "", "disable_oauth": true, "gcs_base_url": base,
    });
    if let Some(project) = project {
        account["project_id"] = json!(project);
    }
    account.to_string()
}
