// The headforge HTTP API (version 1), as the page uses it. Every failure is thrown as an
// ApiError carrying the server's stable error code and message.

const API = "/api/v1";

export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path.startsWith("/") ? path : `${API}/${path}`, options);
  } catch {
    throw new ApiError("offline", "The server cannot be reached. Check your connection and try again.", 0);
  }
  if (response.ok) return response;
  let error = { code: "http_error", message: `The server answered ${response.status}.` };
  try {
    error = (await response.json()).error ?? error;
  } catch {
    // not JSON: keep the generic message
  }
  throw new ApiError(error.code, error.message, response.status);
}

/** A new job for the photo `file`; `body`: "head" (default) or "full" (a rigged full body). */
export async function createJob(file, body = "head") {
  const form = new FormData();
  form.append("photo", file, file.name || "photo");
  form.append("body", body);
  return (await request("jobs", { method: "POST", body: form })).json();
}

export async function jobStatus(id) {
  return (await request(`jobs/${id}`)).json();
}

export async function params(id) {
  return (await request(`jobs/${id}/params.json`)).json();
}

/** A re-export of job `id`; `hair` undefined: as the job; `maxStrands`: thin the GLB's hair. */
export async function createExport(id, emotions, hair, maxStrands) {
  const body = JSON.stringify({ emotions, hair, max_strands: maxStrands });
  const response = await request(`jobs/${id}/exports`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body,
  });
  return response.json();
}

export async function hairstyles() {
  return (await (await request("hairstyles")).json()).hairstyles;
}

export async function emotionMapping() {
  return (await request("emotions/mapping.json")).json();
}

export async function arrayBuffer(url) {
  return (await request(url)).arrayBuffer();
}
