// The local console: plain JS over the same API as any client (GET /jobs, GET /jobs/{id}, POST
// /uploads, POST /jobs, POST /jobs/{id}/cancel). The browser cannot sign with SigV4: every call
// carries the pages' marker header and cookie, and the local front signs it (see local/pages.py).
"use strict";

const MARKER = { "X-Seedance-Console": "1" };
const TERMINAL = new Set(["succeeded", "failed", "expired", "canceled"]);
const CANCELABLE = new Set(["queued", "submitted", "processing"]);

async function api(path, { method = "GET", body } = {}) {
  const init = { method, credentials: "same-origin", headers: { ...MARKER } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    // not JSON: shown as it came
  }
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${describe(data)}`);
  }
  return data;
}

function describe(data) {
  if (data && Array.isArray(data.detail)) {
    return data.detail.map((item) => `${(item.loc || []).join(".")}: ${item.msg}`).join("; ");
  }
  if (data && data.error) return `${data.error.code}: ${data.error.message}`;
  if (data && data.message) return data.message;
  return typeof data === "string" ? data : JSON.stringify(data);
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function age(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} d`;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function cost(job) {
  return job.cost_estimate_usd === null || job.cost_estimate_usd === undefined
    ? "—"
    : `$${job.cost_estimate_usd.toFixed(2)}`;
}

function statusCell(tag, status) {
  return element(tag, status, `status status-${status}`);
}

// -- /console: recent jobs and the submit form ----------------------------------------------------

function jobRow(job) {
  const row = element("tr");
  row.dataset.jobId = job.job_id;
  const id = element("td", null, "job-id");
  const link = element("a", job.job_id);
  link.href = `/console/jobs/${encodeURIComponent(job.job_id)}`;
  id.append(link);
  const created = element("td", age(job.created_at), "age");
  created.title = job.created_at;
  row.append(
    id,
    statusCell("td", job.status),
    element("td", job.provider, "provider"),
    element("td", job.origin.kind, "origin"),
    created,
    element("td", cost(job), "cost"),
  );
  return row;
}

async function loadJobs() {
  const problem = document.getElementById("jobs-problem");
  try {
    const page = await api("/jobs?limit=50");
    document.getElementById("jobs").replaceChildren(...page.jobs.map(jobRow));
    problem.textContent = "";
  } catch (error) {
    problem.textContent = error.message;
  }
}

async function loadProviders() {
  const select = document.getElementById("provider");
  try {
    const { providers } = await api("/providers");
    const usable = providers.filter((p) => p.enabled && p.capabilities.first_frame);
    if (usable.length === 0) return;
    const chosen = select.value;
    select.replaceChildren(
      ...usable.map((p) => {
        const option = element("option", p.provider);
        option.value = p.provider;
        return option;
      }),
    );
    select.value = usable.some((p) => p.provider === chosen) ? chosen : usable[0].provider;
  } catch (_) {
    // keep the default option
  }
}

async function upload(file) {
  const grant = await api("/uploads", {
    method: "POST",
    body: { content_type: file.type, size_bytes: file.size },
  });
  // The browser sets Content-Length itself (from the body); it may not be set by a page.
  const headers = Object.fromEntries(
    Object.entries(grant.headers).filter(([name]) => name.toLowerCase() !== "content-length"),
  );
  const put = await fetch(grant.upload_url, { method: "PUT", headers, body: file });
  if (!put.ok) throw new Error(`PUT of the file: ${put.status} ${await put.text()}`);
  return grant.s3_url;
}

async function submitJob(event) {
  event.preventDefault();
  const form = event.target;
  const status = document.getElementById("submit-status");
  const button = document.getElementById("submit");
  button.disabled = true;
  try {
    const file = form.image.files[0];
    status.textContent = `Uploading ${file.name} …`;
    const firstFrame = await upload(file);
    status.textContent = "Submitting …";
    const job = await api("/jobs", {
      method: "POST",
      body: {
        provider: form.provider.value,
        prompt: form.prompt.value,
        first_frame_url: firstFrame,
        resolution: form.resolution.value,
        duration: Number(form.duration.value),
      },
    });
    status.textContent = `Submitted ${job.job_id}`;
    window.location.assign(`/console/jobs/${encodeURIComponent(job.job_id)}`);
  } catch (error) {
    status.textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

// -- /console/jobs/{job_id}: one job --------------------------------------------------------------

function timeline(job) {
  const items = [element("li", `${when(job.created_at)}: created, queued (through ${job.origin.kind})`)];
  for (const attempt of job.attempts || []) {
    let text = `${when(attempt.started_at)}: ${attempt.provider}, ${attempt.outcome}`;
    if (attempt.error) text += `: ${attempt.error}`;
    text += `; ${attempt.creates} create call${attempt.creates === 1 ? "" : "s"}`;
    if (attempt.ended_at) text += `; ended ${when(attempt.ended_at)}`;
    const item = element("li", text, "attempt");
    item.dataset.outcome = attempt.outcome;
    items.push(item);
  }
  let last = `${when(job.updated_at)}: ${job.status}`;
  if (job.error) last += ` (${job.error.code}: ${job.error.message})`;
  items.push(element("li", last, `status-${job.status}`));
  for (const warning of job.warnings || []) items.push(element("li", `warning: ${warning}`));
  return items;
}

function showOutput(job) {
  const output = document.getElementById("output");
  const path = `/jobs/${encodeURIComponent(job.job_id)}`;
  if (job.video && !document.getElementById("video")) {
    const video = element("video");
    video.id = "video";
    video.controls = true;
    video.muted = true;
    video.preload = "auto";
    video.src = `${path}/video`; // 302 to the file in (local) S3
    const meta = job.video.metadata;
    const caption = meta
      ? `${meta.width}×${meta.height}, ${meta.duration_seconds} s, ${job.video.size_bytes} bytes`
      : `${job.video.size_bytes} bytes`;
    output.append(element("h2", "Video"), video, element("p", caption));
  }
  if (job.last_frame && !document.getElementById("last-frame")) {
    const image = element("img");
    image.id = "last-frame";
    image.alt = "last frame";
    image.width = 320;
    image.src = `${path}/last-frame`;
    output.append(element("h2", "Last frame"), image);
  }
}

function showJob(job) {
  document.title = `Job ${job.job_id} (local)`;
  document.getElementById("job-id").textContent = job.job_id;
  document.getElementById("status").replaceChildren(statusCell("span", job.status));
  document.getElementById("provider").textContent = job.provider;
  document.getElementById("origin").textContent = JSON.stringify(job.origin);
  document.getElementById("cost").textContent = cost(job);
  document.getElementById("prompt").textContent = job.request.prompt;
  document.getElementById("timeline").replaceChildren(...timeline(job));
  document.getElementById("cancel").hidden = !CANCELABLE.has(job.status);
  showOutput(job);
}

async function loadJob(jobId) {
  const problem = document.getElementById("job-problem");
  let job = null;
  try {
    job = await api(`/jobs/${encodeURIComponent(jobId)}`);
    showJob(job);
    problem.textContent = "";
  } catch (error) {
    problem.textContent = error.message;
  }
  if (!job || !TERMINAL.has(job.status)) setTimeout(() => loadJob(jobId), 1000);
}

async function cancelJob(jobId) {
  const problem = document.getElementById("job-problem");
  try {
    showJob(await api(`/jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST" }));
  } catch (error) {
    problem.textContent = error.message;
  }
}

if (document.body.dataset.page === "jobs") {
  document.getElementById("submit-form").addEventListener("submit", submitJob);
  loadProviders();
  loadJobs();
  setInterval(loadJobs, 3000);
} else if (document.body.dataset.page === "job") {
  const jobId = decodeURIComponent(window.location.pathname.split("/").pop());
  document.getElementById("job-id").textContent = jobId;
  document.getElementById("cancel").addEventListener("click", () => cancelJob(jobId));
  loadJob(jobId);
}
