//! GDPR workflows: erasure of a person in one step (Art. 17) and the access report (Art. 15).
//! Both go through the store and append to the audit trail.

pub mod erase;
pub mod report;
