//! The bounds of a shared instance, in one place: what one team's input (a config file, an admin API body)
//! may make the process hold. Each is stated in the README's "Security" section; exceeding one is a clear
//! error (400 from the API, a field error from `switchboard check`), never a slow death.

/// Tenants one instance runs (file and API together). `/metrics`, `/v1/status` and the status board grow with
/// them; a shared instance for hundreds of teams stays well inside.
pub const MAX_TENANTS: usize = 1_000;

/// Topics one tenant follows, counted after expanding combined ids. Twenty channels of 1,000 topics are the
/// most one OAuth client can hold; this allows several clients' worth.
pub const MAX_TOPICS_PER_TENANT: usize = 50_000;

/// Topics one `POST` or `DELETE /v1/tenants/{id}/topics` (or one tenant body) may name.
pub const MAX_TOPICS_PER_REQUEST: usize = 10_000;

/// The longest `limit` of a paged list, and the page size when none is given.
pub const MAX_PAGE: usize = 10_000;

/// Dead letters one sink keeps in the store (`[store] dead_letters_max`, per instance): past it the oldest
/// are dropped as new ones arrive, and counted in `switchboard_dead_letters_dropped_total`. A destination
/// that refuses everything for good otherwise grows the store without end.
pub const DEFAULT_DEAD_LETTERS_MAX: usize = 10_000;

/// The largest `[store] dead_letters_max`.
pub const MAX_DEAD_LETTERS_MAX: usize = 1_000_000;
