-- The billing period a day belongs to (usage caps, ispops.radius.usage).
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_billing_period_start(p_cycle_day integer, p_today date)
 RETURNS date
 LANGUAGE sql
 IMMUTABLE
AS $function$
-- The first day of the billing period containing p_today, for a cycle starting on day p_cycle_day of each
-- month (a day past the end of a short month means its last day).
  SELECT CASE WHEN p_today >= this_month THEN this_month ELSE last_month END
    FROM (SELECT
      (date_trunc('month', p_today)::date
        + (least(p_cycle_day, extract(day FROM date_trunc('month', p_today) + interval '1 month - 1 day')::int)
           - 1)) AS this_month,
      ((date_trunc('month', p_today) - interval '1 month')::date
        + (least(p_cycle_day, extract(day FROM date_trunc('month', p_today) - interval '1 day')::int) - 1))
        AS last_month) d
$function$;
GRANT EXECUTE ON FUNCTION public.ispops_billing_period_start(p_cycle_day integer, p_today date) TO ispops_app, ispops_platform;
