//! The casting domain: the enums every layer shares, the pipeline and job rules, and the parsed
//! value types that make invalid input impossible past the edge. Pure code, no I/O.

pub mod ids;
pub mod jobs;
pub mod page;
pub mod pipeline;
pub mod profiles;
pub mod values;

// The domain enums every crate shares, declared once (with their SQL and GraphQL mappings).
pub use castyou_vocab::enums::{
    AccountTokenPurpose, ApplicationStage, AuthProvider, GroupRole, JobStatus, MembershipStatus,
    ProductionType, Proficiency, Role, UnionStatus,
};
