// The page `voxplug serve` serves: join a fresh LiveKit room with a token from the server,
// publish the microphone, hear the agent, and show what the agent publishes back (its state,
// both sides' transcripts, per-turn latency). Standard web APIs only (WebRTC, WebAudio, fetch).
import { Room, RoomEvent, Track } from 'livekit-client';

const TOPIC_TRANSCRIPTION = 'lk.transcription';
const TOPIC_TURN = 'voxplug.turn'; // voxplug.core.turn_publisher
const ATTR_FINAL = 'lk.transcription_final';
const ATTR_SEGMENT = 'lk.segment_id';
const ATTR_AGENT_STATE = 'lk.agent.state';
const METER_INTERVAL_MS = 50;
const AGENT_STATES = {
  initializing: 'starting up',
  idle: 'idle',
  listening: 'listening',
  thinking: 'thinking',
  speaking: 'speaking',
};

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  connect: $('connect'),
  mute: $('mute'),
  accessRow: $('access-row'),
  accessCode: $('access-code'),
  microphone: $('microphone'),
  micLevel: $('mic-level'),
  agentLevel: $('agent-level'),
  agentState: $('agent-state'),
  settings: $('settings'),
  transcript: $('transcript'),
  latency: document.querySelector('#latency tbody'),
  agentAudio: $('agent-audio'),
};

let pageConfig = null;
let room = null;
let audioContext = null;
let meters = [];
const segments = new Map(); // transcript segment id -> <li>

function setStatus(text, state) {
  ui.status.textContent = text;
  ui.status.dataset.state = state;
}

function setAgentState(state) {
  ui.agentState.dataset.state = state;
  ui.agentState.textContent = AGENT_STATES[state] || state;
}

// -- settings ------------------------------------------------------------------------------
function settingControl(setting) {
  const id = `setting-${setting.key.replace(/\W/g, '-')}`;
  let control;
  if (setting.kind === 'select') {
    control = document.createElement('select');
    const keep = new Option(`agent default${setting.placeholder ? ` (${setting.placeholder})` : ''}`, '');
    control.add(keep);
    for (const choice of setting.choices) control.add(new Option(choice, choice));
  } else if (setting.kind === 'textarea') {
    control = document.createElement('textarea');
    control.rows = 3;
  } else {
    control = document.createElement('input');
    control.type = setting.kind === 'number' ? 'number' : 'text';
    if (setting.kind === 'number') {
      control.min = String(setting.min);
      control.max = String(setting.max);
      control.step = 'any';
    }
  }
  if (setting.max_length) control.maxLength = setting.max_length;
  if (setting.placeholder && setting.kind !== 'select') control.placeholder = setting.placeholder;
  control.id = id;
  control.name = setting.key;
  control.dataset.kind = setting.kind;
  const label = document.createElement('label');
  label.htmlFor = id;
  label.textContent = setting.label;
  const hint = document.createElement('span');
  hint.className = 'hint';
  hint.id = `${id}-hint`;
  hint.textContent = setting.help;
  control.setAttribute('aria-describedby', hint.id);
  const row = document.createElement('div');
  row.className = 'setting';
  row.append(label, control, hint);
  return row;
}

function renderSettings(settings) {
  ui.settings.replaceChildren();
  if (!settings.length) {
    const none = document.createElement('p');
    none.textContent = 'This agent allows no settings to change (overrides.allow is empty).';
    ui.settings.append(none);
    return;
  }
  for (const setting of settings) ui.settings.append(settingControl(setting));
}

function collectSettings() {
  const chosen = {};
  for (const control of ui.settings.elements) {
    const value = control.value.trim();
    if (!control.name || value === '') continue;
    chosen[control.name] = control.dataset.kind === 'number' ? Number(value) : value;
  }
  return chosen;
}

function lockSettings(locked) {
  for (const control of ui.settings.elements) control.disabled = locked;
  ui.accessCode.disabled = locked;
}

// -- microphones ---------------------------------------------------------------------------
async function listMicrophones() {
  const selected = ui.microphone.value;
  let devices = [];
  try {
    devices = await Room.getLocalDevices('audioinput', false);
  } catch {
    return; // no media devices API (insecure origin): the default microphone is still used
  }
  const options = [new Option('Default microphone', '')];
  devices
    .filter((d) => d.deviceId && d.deviceId !== 'default')
    .forEach((d, i) => options.push(new Option(d.label || `Microphone ${i + 1}`, d.deviceId)));
  ui.microphone.replaceChildren(...options);
  ui.microphone.value = options.some((o) => o.value === selected) ? selected : '';
}

async function switchMicrophone() {
  if (room && ui.microphone.value) {
    await room.switchActiveDevice('audioinput', ui.microphone.value);
  }
}

// -- level meters --------------------------------------------------------------------------
// RMS in dBFS mapped to 0..1 over -60..0 dB, with a short decay so the meter is readable.
function meter(element, currentTrack) {
  const analyser = audioContext.createAnalyser();
  analyser.fftSize = 1024;
  const samples = new Float32Array(analyser.fftSize);
  let source = null;
  let track = null;
  let shown = 0;
  const timer = setInterval(() => {
    const next = currentTrack();
    if (next !== track) {
      if (source) source.disconnect();
      source = next ? audioContext.createMediaStreamSource(new MediaStream([next])) : null;
      if (source) source.connect(analyser);
      track = next;
    }
    let level = 0;
    if (source) {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      const rms = Math.sqrt(sum / samples.length);
      level = rms > 1e-5 ? Math.min(1, Math.max(0, (20 * Math.log10(rms) + 60) / 60)) : 0;
    }
    shown = Math.max(level, shown * 0.8);
    if (shown < 0.01) shown = 0;
    element.value = shown;
    element.textContent = `${Math.round(shown * 100)}%`;
  }, METER_INTERVAL_MS);
  return () => {
    clearInterval(timer);
    if (source) source.disconnect();
    element.value = 0;
    element.textContent = '0%';
  };
}

function microphoneTrack() {
  const publication = room?.localParticipant.getTrackPublication(Track.Source.Microphone);
  return publication?.track?.mediaStreamTrack ?? null;
}

let agentTrack = null;

// -- transcripts ---------------------------------------------------------------------------
function transcriptEntry(segment, speaker) {
  let item = segments.get(segment);
  if (!item) {
    item = document.createElement('li');
    item.dataset.speaker = speaker;
    item.dataset.final = 'false';
    const who = document.createElement('span');
    who.className = 'speaker';
    who.textContent = speaker === 'you' ? 'You' : 'Agent';
    const text = document.createElement('span');
    text.className = 'text';
    item.append(who, text);
    segments.set(segment, item);
    ui.transcript.append(item);
  }
  return item;
}

async function onTranscription(reader, participantInfo) {
  const attributes = reader.info.attributes || {};
  const speaker = participantInfo.identity === room?.localParticipant.identity ? 'you' : 'agent';
  const item = transcriptEntry(attributes[ATTR_SEGMENT] || reader.info.id, speaker);
  // each stream carries the whole segment: the agent's words as deltas of one stream, the
  // caller's words as one stream per interim result
  let text = '';
  try {
    for await (const chunk of reader) {
      text += chunk;
      item.querySelector('.text').textContent = text;
    }
  } catch {
    return; // the call ended mid-sentence: keep what arrived, still marked interim
  }
  if ((reader.info.attributes || {})[ATTR_FINAL] === 'true') item.dataset.final = 'true';
  item.scrollIntoView({ block: 'nearest' });
}

// -- latency -------------------------------------------------------------------------------
function seconds(value) {
  return typeof value === 'number' && Number.isFinite(value) ? `${value.toFixed(2)} s` : '–';
}

function onData(payload, participant, kind, topic) {
  if (topic !== TOPIC_TURN) return;
  let turn;
  try {
    turn = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return;
  }
  const row = document.createElement('tr');
  row.dataset.e2e = String(turn.e2e_latency ?? '');
  const cells = [
    String(Number(turn.index) + 1),
    seconds(turn.e2e_latency),
    seconds(turn.end_of_turn_delay),
    seconds(turn.transcription_delay),
    seconds(turn.llm_ttft),
    seconds(turn.tts_ttfb),
  ];
  for (const text of cells) {
    const cell = document.createElement('td');
    cell.textContent = text;
    row.append(cell);
  }
  ui.latency.append(row);
}

// -- the call ------------------------------------------------------------------------------
function agentParticipant() {
  return [...(room?.remoteParticipants.values() ?? [])].find((p) => p.isAgent) ?? null;
}

// past this, say what may be wrong: no worker registered under the agent's name, or all busy
const AGENT_JOIN_HINT_MS = 20000;

function refreshAgentState() {
  const agent = agentParticipant();
  if (!agent) {
    setAgentState(room ? 'waiting' : 'disconnected');
    ui.agentState.textContent = room ? 'waiting for the agent to join' : 'not connected';
    return;
  }
  setAgentState(agent.attributes[ATTR_AGENT_STATE] || 'initializing');
}

async function requestToken() {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const code = ui.accessCode.value.trim();
  if (code) headers.Authorization = `Bearer ${code}`;
  const response = await fetch('api/token', {
    method: 'POST',
    headers,
    body: JSON.stringify({ settings: collectSettings() }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `the token request failed (HTTP ${response.status})`);
  return body;
}

async function connect() {
  ui.connect.disabled = true;
  lockSettings(true);
  setStatus('Connecting…', 'connecting');
  try {
    // created on the click: browsers start audio only after a user gesture
    audioContext = new AudioContext();
    const grant = await requestToken();
    ui.transcript.replaceChildren();
    ui.latency.replaceChildren();
    segments.clear();
    const joined = new Room({ adaptiveStream: false, dynacast: false });
    room = joined;
    room
      .on(RoomEvent.TrackSubscribed, (track) => {
        if (track.kind !== Track.Kind.Audio) return;
        ui.agentAudio.append(track.attach());
        agentTrack = track.mediaStreamTrack;
      })
      .on(RoomEvent.TrackUnsubscribed, (track) => {
        track.detach().forEach((element) => element.remove());
        if (track.mediaStreamTrack === agentTrack) agentTrack = null;
      })
      .on(RoomEvent.ParticipantConnected, refreshAgentState)
      .on(RoomEvent.ParticipantDisconnected, refreshAgentState)
      .on(RoomEvent.ParticipantAttributesChanged, refreshAgentState)
      .on(RoomEvent.DataReceived, onData)
      .on(RoomEvent.MediaDevicesChanged, listMicrophones)
      .on(RoomEvent.Disconnected, () => room === joined && cleanUp('Disconnected by the server.'));
    room.registerTextStreamHandler(TOPIC_TRANSCRIPTION, onTranscription);
    await room.connect(grant.url, grant.token);
    // in the room from here on (the agent may already be greeting); the microphone comes next,
    // and publishing it took over 30 s on a loaded machine
    refreshAgentState();
    setStatus(`Connected to room ${grant.room}; starting the microphone…`, 'connected');
    await room.startAudio();
    const device = ui.microphone.value;
    await room.localParticipant.setMicrophoneEnabled(true, device ? { deviceId: device } : undefined);
    await listMicrophones(); // labels are readable once the microphone is allowed
    meters = [meter(ui.micLevel, microphoneTrack), meter(ui.agentLevel, () => agentTrack)];
    setTimeout(() => {
      if (room === joined && !agentParticipant()) {
        ui.agentState.textContent = `still waiting for agent "${pageConfig.agent_name}": is a worker with that name running and free?`;
      }
    }, AGENT_JOIN_HINT_MS);
    setStatus(`Connected to room ${grant.room}.`, 'connected');
    ui.connect.textContent = 'Disconnect';
    ui.mute.disabled = false;
  } catch (error) {
    await cleanUp(`Could not connect: ${error.message}`, 'error');
  } finally {
    ui.connect.disabled = false;
  }
}

async function cleanUp(message, state = 'disconnected') {
  const current = room;
  room = null;
  agentTrack = null;
  meters.forEach((stop) => stop());
  meters = [];
  if (current) await current.disconnect();
  ui.agentAudio.replaceChildren();
  if (audioContext) await audioContext.close().catch(() => {});
  audioContext = null;
  ui.connect.textContent = 'Connect';
  ui.mute.disabled = true;
  ui.mute.textContent = 'Mute';
  ui.mute.setAttribute('aria-pressed', 'false');
  lockSettings(false);
  refreshAgentState();
  setStatus(message, state);
}

async function toggleMute() {
  if (!room) return;
  const muted = ui.mute.getAttribute('aria-pressed') !== 'true';
  ui.mute.disabled = true;
  try {
    await room.localParticipant.setMicrophoneEnabled(!muted);
    ui.mute.setAttribute('aria-pressed', String(muted));
    ui.mute.textContent = muted ? 'Unmute' : 'Mute';
  } finally {
    ui.mute.disabled = false;
  }
}

// a shared link may carry the access code in its fragment, which never reaches a server log
function codeFromLink() {
  const code = new URLSearchParams(location.hash.slice(1)).get('code');
  if (code) ui.accessCode.value = code;
}

async function start() {
  try {
    const response = await fetch('api/config', { headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    pageConfig = await response.json();
  } catch (error) {
    setStatus(`The server did not answer (${error.message}). Reload to try again.`, 'error');
    return;
  }
  renderSettings(pageConfig.settings);
  if (pageConfig.auth !== 'none') {
    ui.accessRow.hidden = false;
    codeFromLink();
    window.addEventListener('hashchange', codeFromLink);
  }
  await listMicrophones();
  ui.connect.addEventListener('click', () => (room ? cleanUp('Disconnected.') : connect()));
  ui.mute.addEventListener('click', toggleMute);
  ui.microphone.addEventListener('change', switchMicrophone);
  ui.connect.disabled = false;
  setStatus(`Ready: press Connect to talk to ${pageConfig.agent_name}.`, 'ready');
}

start();
