-- Argo CD health check for shoal.dev/Workload (argocd-cm key
-- resource.customizations.health.shoal.dev_Workload).
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

-- For a terminal phase: status.message, else the Ready condition's message or reason,
-- else status.reason.
local function phaseMessage(c, fallback)
  if obj.status.message ~= nil and obj.status.message ~= "" then
    return obj.status.message
  end
  if obj.status.reason ~= nil and obj.status.reason ~= "" then
    fallback = obj.status.reason
  end
  return messageOf(c, fallback)
end

local ready = condition("Ready")
local phase = obj.status.phase

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = phaseMessage(ready, "Workload succeeded")
  return hs
end
if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = phaseMessage(ready, "Workload failed")
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = messageOf(ready, "Ready")
  return hs
end

local scheduled = condition("Scheduled")
if scheduled ~= nil and scheduled.status == "False" then
  hs.status = "Progressing"
  hs.message = messageOf(scheduled, "Waiting to be scheduled")
  return hs
end

if ready ~= nil and ready.status == "False" and not inProgress(ready.reason) then
  hs.status = "Degraded"
  hs.message = messageOf(ready, "Not ready")
  return hs
end

hs.status = "Progressing"
hs.message = messageOf(ready, "Waiting for Ready condition")
return hs
