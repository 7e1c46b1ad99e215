-- The charging script of the bench's "no-op charging script" ceiling (scripts/bench-diameter.ts):
-- it replaces session-charge.lua in a copy of dist/, so that OCS does everything a CCR costs in its
-- own process (Diameter, rating, the script call and its answer) while Redis does no charging. Its
-- rate is what the OCS process and one FCALL allow on this machine: the ceiling no charging script,
-- however cheap, could lift the full stack above. Never used outside the bench.
-- The answers have the real script's shape for the bench's sessions (one item): a 5 MiB grant, and
-- a committed item and a closed session for a terminate.
local a = ARGV[1]
local _, e = string.find(a, '"key":"', 1, true)
local key = string.sub(a, e + 1, string.find(a, '"', e + 1, true) - 1)
if string.find(a, '"op":"terminate"', 1, true) then
  return '{"status":"ok","results":[{"key":"' .. key .. '","kind":"committed"}],"charged":"0","closed":true,"cdrs":0}'
end
return '{"results":[{"key":"' .. key .. '","kind":"granted","validity":900,"units":5242880}]}'
