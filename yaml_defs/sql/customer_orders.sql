-- one row per customer; customers without orders are kept
with paid as (
    select o.customer_id, p.method, count(*) as payments
    from analytics.stg_orders o
    join demo.payments p on p.order_id = o.order_id
    group by all
),
favourite as (
    select customer_id, arg_max(method, payments) as favourite_method
    from paid
    group by customer_id
)
select
    c.id as customer_id,
    c.first_name || ' ' || c.last_name as customer_name,
    c.email,
    c.country,
    count(o.order_id) as orders,
    coalesce(sum(o.amount), 0) as revenue,
    f.favourite_method
from demo.customers c
left join analytics.stg_orders o on o.customer_id = c.id
left join favourite f on f.customer_id = c.id
group by all
