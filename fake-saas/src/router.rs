//! The router: the admin API under `/__admin`, every other path through the public pipeline.
//!
//! Why a module of its own: it is the one place that knows both halves, so `routes` and `admin`
//! depend only on the state and the transport, never on each other or on the handle.

use axum::Router;

use crate::state::App;

/// Every route of the fake, bound to its state.
pub(crate) fn router(app: App) -> Router {
    Router::new()
        .nest("/__admin", crate::admin::router())
        .fallback(crate::routes::dispatch)
        .with_state(app)
}
