-- The one SQL definition of a charge's split between the platform and the operator, so that
-- settlement (db/charges.ts), the reconciler (db/reconcile.ts) and seeded data cannot drift apart.
-- It is `splitFee` in shared/pricing/price.ts, checked against it in db/fee_split_test.ts: the fee
-- is charged × fee_bps / 10,000 rounded down, the operator gets the rest, and the two add up to
-- the charge exactly. The product is taken in numeric so that no charge a bigint holds overflows;
-- the planner inlines these (immutable, one select), so a batch pays no call per row.
create function platform_fee_of(charged bigint, fee_bps integer) returns bigint
  language sql immutable strict parallel safe
  as $$ select div(charged::numeric * fee_bps, 10000)::bigint $$;

create function operator_share_of(charged bigint, fee_bps integer) returns bigint
  language sql immutable strict parallel safe
  as $$ select charged - div(charged::numeric * fee_bps, 10000)::bigint $$;
