-- Orders and payments.
--
-- An order's row keeps the order's whole state as the domain folds it (`state`), so a reader
-- shows exactly the statuses the rules decide; the other columns are what queries filter on.
-- `warned` and `retry_at` tell the order timer what it still has to do: warn before `pay_by`,
-- expire at `pay_by`, and try a failed refund again from `retry_at`.
CREATE TABLE read_models.orders (
    order_id text PRIMARY KEY,
    owner_id bigint NOT NULL,
    status text NOT NULL,
    pay_by timestamptz NOT NULL,
    warned boolean NOT NULL,
    retry_at timestamptz,
    placed_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    state jsonb NOT NULL
);
CREATE INDEX orders_owner ON read_models.orders (owner_id, placed_at);
CREATE INDEX orders_awaiting ON read_models.orders (pay_by) WHERE status = 'awaiting_payment';
CREATE INDEX orders_refund_retry ON read_models.orders (retry_at) WHERE retry_at IS NOT NULL;

-- One row per payment of an order, for `GET /payments`.
CREATE TABLE read_models.payments (
    payment_id text PRIMARY KEY,
    order_id text NOT NULL,
    owner_id bigint NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    status text NOT NULL,
    refunded_amount bigint NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX payments_order ON read_models.payments (order_id);
CREATE INDEX payments_status ON read_models.payments (status, updated_at);

-- The order a hold waits for, and the order a booking is a ticket of.
ALTER TABLE read_models.holds ADD COLUMN order_id text;
ALTER TABLE read_models.bookings ADD COLUMN order_id text;
