//! Reports: the data model of one scenario's result and the renderers that read it.
//!
//! Data flows one way: `run` fills a [`model::ScenarioReport`]; [`text`], [`html`] and [`junit`]
//! render it. The model imports nothing from this crate; each renderer imports only the model
//! (and the text markers), never the runner.

pub mod html;
pub mod junit;
pub mod model;
pub mod text;
