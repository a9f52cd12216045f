//! The `[user]` table: the one user every session belongs to, and their teams.
//!
//! Why a module of its own: the user is what `GET /api/v1/me` reports and what a seeded session
//! carries, so its defaults (slug = id, default team = the private teamspace, else the first
//! team) are decided here once for both.

use serde::{Deserialize, Serialize};

/// A team as `GET /api/v1/me` reports it (and as the CLI stores it in the session file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    pub id: String,
    pub name: String,
    /// A role name as the server reports it (`owner`, `member`, …); not interpreted here.
    #[serde(default = "default_role")]
    pub role: String,
    #[serde(default)]
    pub is_private_teamspace: bool,
    /// Defaults to `id` when empty or absent.
    #[serde(default)]
    pub slug: String,
}

fn default_role() -> String {
    "member".to_string()
}

impl Team {
    /// The team with an empty slug replaced by its id.
    fn normalized(&self) -> Team {
        let mut team = self.clone();
        if team.slug.is_empty() {
            team.slug = team.id.clone();
        }
        team
    }
}

/// The user every session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserConfig {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub teams: Vec<Team>,
    /// Defaults to the private teamspace, else the first team.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_team_id: Option<String>,
}

impl Default for UserConfig {
    fn default() -> Self {
        UserConfig {
            user_id: "user_1".to_string(),
            email: "dev@example.com".to_string(),
            name: "Dev User".to_string(),
            teams: vec![
                Team {
                    id: "team_private_1".to_string(),
                    name: "Dev User's Teamspace".to_string(),
                    role: "owner".to_string(),
                    is_private_teamspace: true,
                    slug: "dev-user-teamspace".to_string(),
                },
                Team {
                    id: "team_shared_1".to_string(),
                    name: "Shared Team".to_string(),
                    role: "member".to_string(),
                    is_private_teamspace: false,
                    slug: "shared-team".to_string(),
                },
            ],
            default_team_id: None,
        }
    }
}

impl UserConfig {
    /// Teams with slugs filled in.
    pub(crate) fn teams(&self) -> Vec<Team> {
        self.teams.iter().map(Team::normalized).collect()
    }

    /// The explicit default team, else the private teamspace, else the first team.
    pub(crate) fn default_team(&self) -> Option<String> {
        self.default_team_id.clone().or_else(|| {
            self.teams
                .iter()
                .find(|t| t.is_private_teamspace)
                .or_else(|| self.teams.first())
                .map(|t| t.id.clone())
        })
    }
}
