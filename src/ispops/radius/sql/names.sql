-- User names as rlm_sql escapes them, back to what the NAS sent (migration 0026, docs/radius.md).
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_radius_name(p text)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE PARALLEL SAFE STRICT
AS $function$
-- A value as rlm_sql put it into a query (see migration 0026), back to what the NAS sent.
DECLARE
  s text := '';
  res text := '';
  i integer := 1;
  n integer;
  c text;
BEGIN
  IF strpos(p, '=') = 0 THEN
    RETURN p;  -- nothing was escaped: the C-style step's backslash would have become =5C
  END IF;
  -- 1. rlm_sql: "=XX" (upper-case hex) is one byte outside the safe set.
  n := length(p);
  WHILE i <= n LOOP
    c := substr(p, i, 1);
    IF c = '=' AND substr(p, i + 1, 2) ~ '^[0-9A-F]{2}$' THEN
      s := s || chr(('x' || substr(p, i + 1, 2))::bit(8)::integer);
      i := i + 3;
    ELSE
      s := s || c;
      i := i + 1;
    END IF;
  END LOOP;
  IF strpos(s, E'\\') = 0 THEN
    RETURN s;
  END IF;
  -- 2. FreeRADIUS's C-style printing: \\ \" \t \n \r \NNN.
  n := length(s);
  i := 1;
  WHILE i <= n LOOP
    c := substr(s, i, 1);
    IF c = E'\\' AND i < n THEN
      c := substr(s, i + 1, 1);
      IF c = 't' THEN
        res := res || chr(9);
        i := i + 2;
      ELSIF c = 'n' THEN
        res := res || chr(10);
        i := i + 2;
      ELSIF c = 'r' THEN
        res := res || chr(13);
        i := i + 2;
      ELSIF substr(s, i + 1, 3) ~ '^[0-3][0-7]{2}$' AND substr(s, i + 1, 3) <> '000' THEN
        res := res || chr((substr(s, i + 1, 1)::integer * 64) + (substr(s, i + 2, 1)::integer * 8)
                          + substr(s, i + 3, 1)::integer);
        i := i + 4;
      ELSE
        res := res || c;  -- \\ and \" stand for the character itself
        i := i + 2;
      END IF;
    ELSE
      res := res || c;
      i := i + 1;
    END IF;
  END LOOP;
  RETURN res;
END $function$;
REVOKE ALL ON FUNCTION public.ispops_radius_name(p text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.ispops_radius_name(p text) TO ispops_radius;
