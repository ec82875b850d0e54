//! What a tenant shares with its channels: its settings, the router, the store, the sockets' budget, and in
//! cluster mode the self-fence, the lease and the handover switch that every claiming action checks.

use std::sync::Arc;

use super::SocketOpens;
use crate::config::EnginePolicy;
use crate::metrics::TenantMetrics;
use crate::router::RouterHandle;
use crate::store::Store;

/// What a tenant shares with its channels.
pub struct TenantShared {
    pub tenant: Arc<str>,
    pub region: Arc<str>,
    pub policy: EnginePolicy,
    pub router: RouterHandle,
    pub store: Arc<dyn Store>,
    /// TLS settings for sockets when the tenant trusts an extra CA; the public roots otherwise.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub metrics: Arc<TenantMetrics>,
    /// Where the tenant's REST calls and sockets may connect.
    pub egress: crate::egress::Egress,
    /// The tenant's budget of socket opens, shared by its channels.
    pub socket_opens: SocketOpens,
    /// Cluster mode's self-fence: no claiming action (connect, create, subscribe, roll over, store write)
    /// once it no longer holds.
    pub fence: crate::fence::Fence,
    /// This actor took the tenant over from another instance: the time since the recorded channels' last
    /// proof of life is a `failover` gap.
    pub failover: bool,
    /// This actor took the tenant over from an instance that handed it over make-before-break (it read its
    /// sockets until ours displaced them): adopting the recorded channels opens no gap.
    pub handed_over: bool,
    /// Cluster mode: on while this instance hands the tenant over to another (nothing is claimed then).
    pub handover: crate::fence::Handover,
    /// Cluster mode: the tenant's lease; channel records are written only while it is current.
    pub lease: Option<crate::store::Lease>,
}

impl TenantShared {
    /// Checks before a claiming action: the instance's self-fence (a refusal is counted) and the tenant's
    /// handover (expected, not counted). `true`: go ahead.
    pub fn admits(&self) -> bool {
        !self.handover.active() && self.fence.admit()
    }
}
