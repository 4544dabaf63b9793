-- Argo CD health check for the shoal.dev kinds judged by their Ready condition: Node, MirrorPolicy and
-- MeshRoute (argocd-cm keys resource.customizations.health.shoal.dev_<Kind>, all mapped to this file).
-- Argo CD runs gopher-lua (Lua 5.1): keep to the 5.1 subset.
local hs = { status = "Progressing", message = "Waiting for controller" }

-- Words that, found in the reason of a Ready=False condition, mean "still getting
-- there" rather than "broken" (e.g. ContainerCreating, PullingImage, WaitingForEndpoints).
local progressWords = {
  "Progressing", "Pending", "Reconciling", "Scheduling", "Waiting", "Pulling", "Creating",
  "Starting", "Initializing", "Provisioning", "Updating", "Connecting", "InProgress",
}

local function condition(ctype)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function inProgress(reason)
  if reason == nil then
    return false
  end
  for _, w in ipairs(progressWords) do
    if string.find(reason, w, 1, true) ~= nil then
      return true
    end
  end
  return false
end

local function messageOf(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

if obj.status == nil or obj.metadata.generation ~= obj.status.observedGeneration then
  return hs
end

local ready = condition("Ready")
if ready == nil then
  hs.message = "Waiting for Ready condition"
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = messageOf(ready, "Ready")
  return hs
end
if ready.status == "False" and not inProgress(ready.reason) then
  hs.status = "Degraded"
  hs.message = messageOf(ready, "Not ready")
  return hs
end

hs.status = "Progressing"
hs.message = messageOf(ready, "Waiting for Ready condition")
return hs
