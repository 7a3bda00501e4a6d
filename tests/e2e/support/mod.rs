//! What the tests share: omsd started in-process ([`harness`]), request bodies
//! ([`fixtures`]), real S3 servers and clients ([`s3`]), moto ([`moto`]), Azurite ([`azurite`]), an HTTP origin for
//! URL lists ([`origin`]) and a fault-injecting proxy ([`proxy`]). Test modules hold tests;
//! a helper two of them need moves here.

pub mod azurite;
pub mod fixtures;
pub mod harness;
pub mod moto;
pub mod origin;
pub mod proxy;
pub mod s3;
