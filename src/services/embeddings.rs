//! What is embedded: the texts of a talent profile (everything searchable, the notable works,
//! the dream gigs) and of a job, and the content hash that says whether a text changed.

use crate::db::models::{Job, TalentProfile};
use crate::domain::jobs::JobRequirements;
use sha2::{Digest, Sha256};
use std::sync::atomic::AtomicU64;

/// What this instance's embedding work did, besides what every queue counts.
#[derive(Debug, Default)]
pub struct EmbeddingStats {
    /// Texts turned into vectors.
    pub embedded_texts: AtomicU64,
    /// Calls made to the embeddings endpoint.
    pub calls: AtomicU64,
}

/// A talent's embedded parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Everything searchable (stage name, headline, bio, works, skills, dream gigs).
    Profile,
    /// The notable works (matching's NOTABLE_WORKS).
    Works,
    /// The dream gigs (matching's DREAM_GIG).
    Dreams,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Profile, Part::Works, Part::Dreams];

    pub fn as_str(self) -> &'static str {
        match self {
            Part::Profile => "PROFILE",
            Part::Works => "WORKS",
            Part::Dreams => "DREAMS",
        }
    }
}

/// The part of a job's vector in hashes (jobs have one text).
pub const JOB_PART: &str = "JOB";

fn sentence(out: &mut String, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push_str(if out.ends_with('.') { " " } else { ". " });
    }
    out.push_str(text);
}

fn works_text(profile: &TalentProfile) -> String {
    profile
        .notable_works
        .iter()
        .map(|w| {
            let mut s = w.title.trim().to_string();
            if let Some(role) = w.role.as_deref().filter(|r| !r.trim().is_empty()) {
                s.push_str(&format!(", as {}", role.trim()));
            }
            if let Some(kind) = w.production_type {
                s.push_str(&format!(
                    " ({})",
                    kind.as_str().to_lowercase().replace('_', " ")
                ));
            }
            if let Some(year) = w.year {
                s.push_str(&format!(", {year}"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Each part's text (empty: the part has nothing to embed).
pub fn talent_texts(profile: &TalentProfile) -> [(Part, String); 3] {
    let row = &profile.row;
    let works = works_text(profile);
    let dreams = row.dream_gigs.join("; ");
    let mut all = String::new();
    sentence(&mut all, &row.stage_name);
    sentence(&mut all, row.headline.as_deref().unwrap_or(""));
    sentence(&mut all, row.bio.as_deref().unwrap_or(""));
    if !works.is_empty() {
        sentence(&mut all, &format!("Notable works: {works}"));
    }
    if !row.skills.is_empty() {
        sentence(&mut all, &format!("Skills: {}", row.skills.join(", ")));
    }
    if !dreams.is_empty() {
        sentence(&mut all, &format!("Dream roles: {dreams}"));
    }
    [
        (Part::Profile, all),
        (Part::Works, works),
        (Part::Dreams, dreams),
    ]
}

/// A job's text: what it is and what it asks for.
pub fn job_text(job: &Job) -> String {
    let row = &job.row;
    let mut text = String::new();
    sentence(&mut text, &row.title);
    sentence(&mut text, row.project_name.as_deref().unwrap_or(""));
    sentence(
        &mut text,
        &format!(
            "A {} production",
            row.production_type
                .as_str()
                .to_lowercase()
                .replace('_', " ")
        ),
    );
    sentence(&mut text, &row.description);
    let req: JobRequirements = serde_json::from_value(row.requirements.clone()).unwrap_or_default();
    if !req.skills.is_empty() {
        sentence(&mut text, &format!("Skills: {}", req.skills.join(", ")));
    }
    text
}

/// SHA-256 of the model, the dimensions, the part and the text: a change of any re-embeds.
pub fn content_hash(model: &str, dims: usize, part: &str, text: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for piece in [model, &dims.to_string(), part, text] {
        hasher.update(piece.as_bytes());
        hasher.update([0u8]);
    }
    hasher.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_changes_with_model_dimensions_part_and_text() {
        let base = content_hash("m", 8, "PROFILE", "text");
        assert_eq!(base, content_hash("m", 8, "PROFILE", "text"));
        assert_ne!(base, content_hash("m2", 8, "PROFILE", "text"));
        assert_ne!(base, content_hash("m", 16, "PROFILE", "text"));
        assert_ne!(base, content_hash("m", 8, "WORKS", "text"));
        assert_ne!(base, content_hash("m", 8, "PROFILE", "text!"));
        // Pieces are delimited: moving a character between them changes the hash.
        assert_ne!(
            content_hash("ab", 8, "P", "c"),
            content_hash("a", 8, "P", "bc")
        );
    }
}
