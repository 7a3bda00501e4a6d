//! Where a cloud is: the endpoint of a `cloud_type` + `region` (an operator's `[[endpoints]]`
//! rule, or the cloud's public catalogue), the regions each cloud offers, and which clouds can
//! be sources and destinations (what the catalogue helpers answer).

pub mod endpoints;
pub mod reach;
pub mod regions;
