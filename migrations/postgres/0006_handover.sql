-- Cluster mode's make-before-break handover: an owner that hands a tenant over (SIGTERM, rebalancing) keeps
-- reading its sockets and sets `handover_at` (refreshed while every channel of the tenant is live). A lease
-- offered within the last second may be taken before it expires, and its taker records no gap: the old owner
-- read until the taker's socket displaced its own.
ALTER TABLE tenant_leases ADD COLUMN IF NOT EXISTS handover_at TIMESTAMPTZ;
