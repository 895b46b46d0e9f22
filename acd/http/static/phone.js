// The phone in the page: SIP.js over Asterisk's WebSocket, WebRTC media.
// It registers with the user's own browser-phone secret, which acd issues for
// this login (POST /api/v1/me/web-phone) and which is kept by the user agent only.
import { Registerer, RegistererState, SessionState, UserAgent } from "/desktop/sip.js/index.js";

export class BrowserPhone {
  constructor({ onChange, audio }) {
    this.onChange = onChange; // called whenever anything below changes
    this.audio = audio; // the <audio> element the other party plays in
    this.state = "down"; // down | connecting | registered
    this.endpoint = null; // PJSIP/web<job>
    this.invitation = null; // a call ringing or on
    this.session = null; // the call once answered
    this.remoteStream = null;
    this.rawAudio = false; // true: no echo cancelling, noise suppression or gain control
    this._ua = null;
    this._registerer = null;
    this._started = false;
    this._retry = 0;
    this._timer = null;
    this._hangUpOnceUp = false; // hung up while it was being answered
  }

  async start(issue) {
    const p = await issue(); // { endpoint, uri, username, secret, websocket }
    this.endpoint = p.endpoint;
    const ua = new UserAgent({
      uri: UserAgent.makeURI(p.uri),
      authorizationUsername: p.username,
      authorizationPassword: p.secret,
      transportOptions: { server: p.websocket },
      logLevel: "warn",
      sessionDescriptionHandlerFactoryOptions: {
        iceGatheringTimeout: 500,
        peerConnectionConfiguration: { iceServers: [] },
      },
      delegate: {
        onInvite: (invitation) => this._incoming(invitation),
        // Back after a network loss or an Asterisk restart: register again at once.
        onConnect: () => {
          this._retry = 0;
          if (this._started) this._registerer.register().catch(() => {});
        },
        onDisconnect: (error) => {
          this._set({ state: "connecting" });
          if (error && this._ua === ua) this._reconnect(ua);
        },
      },
    });
    this._ua = ua;
    this._registerer = new Registerer(ua, { expires: 120 });
    this._registerer.stateChange.addListener((s) => {
      this._set({ state: s === RegistererState.Registered ? "registered" : "connecting" });
    });
    this._set({ state: "connecting" });
    try {
      await ua.start(); // connected: the first REGISTER is this one
    } catch (err) {
      await this.stop(); // Asterisk unreachable: no phone half-started, retrying unseen
      throw err;
    }
    this._started = true; // from now on every reconnection registers again
    await this._registerer.register();
  }

  // SIP.js leaves reconnecting to the application: try again, backing off to 10 s.
  // One attempt pending at a time (a failed attempt is reported twice: as a rejected
  // promise and as another disconnect).
  _reconnect(ua) {
    if (this._timer) return;
    const delay = Math.min(10000, 500 * 2 ** this._retry++);
    this._timer = setTimeout(() => {
      this._timer = null;
      if (this._ua !== ua) return; // stopped or replaced meanwhile
      ua.reconnect().catch(() => this._reconnect(ua));
    }, delay);
  }

  async stop() {
    const ua = this._ua;
    this._ua = null;
    clearTimeout(this._timer);
    this._timer = null;
    this._started = false;
    if (!ua) return;
    try { await this._registerer.unregister(); } catch (e) { /* gone already */ }
    try { await ua.stop(); } catch (e) { /* gone already */ }
    this._set({ state: "down" });
  }

  // Who calls: the user part of the caller's SIP address (acd sets it to the number
  // dialled, or to the agent a supervisor joins).
  get remoteUser() {
    return this.invitation ? this.invitation.remoteIdentity.uri.user : null;
  }

  get ringing() {
    return Boolean(this.invitation && !this.session);
  }

  // The promise of the answer (rejected without a microphone), or null if nothing rings.
  answer() {
    if (!this.ringing) return null;
    const raw = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
    const audio = this.rawAudio ? raw : true;
    return this.invitation.accept({ sessionDescriptionHandlerOptions: { constraints: { audio, video: false } } });
  }

  hangUp() {
    if (this.session) { this.session.bye().catch(() => {}); return true; }
    if (!this.invitation) return false;
    if (this.invitation.state === SessionState.Establishing) {
      this._hangUpOnceUp = true; // being answered: it ends as soon as it is up
    } else {
      this.invitation.reject().catch(() => {});
    }
    return true;
  }

  _incoming(invitation) {
    if (this.invitation) { // one call at a time
      invitation.reject({ statusCode: 486 }).catch(() => {});
      return;
    }
    this._hangUpOnceUp = false;
    invitation.stateChange.addListener((s) => {
      if (s === SessionState.Established) {
        if (this._hangUpOnceUp) { invitation.bye().catch(() => {}); return; }
        this._attach(invitation);
        this._set({ session: invitation });
      } else if (s === SessionState.Terminated) {
        if (this.audio) this.audio.srcObject = null;
        this._set({ invitation: null, session: null, remoteStream: null });
      }
    });
    this._set({ invitation });
  }

  _attach(session) {
    const stream = session.sessionDescriptionHandler.remoteMediaStream;
    this.remoteStream = stream;
    if (this.audio) {
      this.audio.srcObject = stream;
      this.audio.play().catch(() => {});
    }
  }

  _set(changes) {
    Object.assign(this, changes);
    if (this.onChange) this.onChange(this);
  }
}
