-- inet arithmetic the allocator and the guards share.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ipam_first(a inet)
 RETURNS inet
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN set_masklen(a, CASE family(a) WHEN 4 THEN 32 ELSE 128 END);

CREATE OR REPLACE FUNCTION public.ipam_last(a inet)
 RETURNS inet
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN set_masklen(broadcast(a), CASE family(a) WHEN 4 THEN 32 ELSE 128 END);

CREATE OR REPLACE FUNCTION public.ipam_next(cur inet, last inet)
 RETURNS inet
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN (cur >= last) THEN NULL::inet ELSE set_masklen((broadcast(cur) + (1)::bigint), masklen(cur)) END;
