// Inline SVG icons (24x24, stroked with currentColor). The markup is constant and
// ours: nothing from the network or from users ever reaches it.

const PATHS = {
  mic: '<path d="M12 2a3 3 0 0 0-3 3v7a3 3 0 0 0 6 0V5a3 3 0 0 0-3-3z"/><path d="M19 10v2a7 7 0 0 1-14 0v-2"/><path d="M12 19v3"/>',
  micOff:
    '<path d="M2 2l20 20"/><path d="M9 9v3a3 3 0 0 0 5.12 2.12"/><path d="M15 9.34V5a3 3 0 0 0-5.94-.6"/><path d="M17 16.95A7 7 0 0 1 5 12v-2"/><path d="M19 10v2c0 .38-.03.75-.09 1.12"/><path d="M12 19v3"/>',
  camera: '<path d="M15 10l5.55-3.17A1 1 0 0 1 22 7.7v8.6a1 1 0 0 1-1.45.87L15 14"/><rect x="2" y="6" width="13" height="12" rx="2.5"/>',
  cameraOff:
    '<path d="M2 2l20 20"/><path d="M10.66 6H13a2 2 0 0 1 2 2v2.34l1 1L22 8v8"/><path d="M16 16a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h2"/>',
  screen: '<rect x="2" y="3" width="20" height="14" rx="2"/><path d="M8 21h8M12 17v4"/><path d="M9 10.5l3-3 3 3M12 7.5V13"/>',
  screenOff: '<rect x="2" y="3" width="20" height="14" rx="2"/><path d="M8 21h8M12 17v4"/><path d="M9.5 7.5l5 5M14.5 7.5l-5 5"/>',
  chat: '<path d="M21 12a8 8 0 0 1-11.6 7.14L4 20.5l1.4-4.6A8 8 0 1 1 21 12z"/>',
  people:
    '<path d="M16 20v-1.5a4 4 0 0 0-4-4H6a4 4 0 0 0-4 4V20"/><circle cx="9" cy="7.5" r="3.5"/><path d="M22 20v-1.5a4 4 0 0 0-3-3.87"/><path d="M16 4.13a3.5 3.5 0 0 1 0 6.75"/>',
  link: '<path d="M10 13a5 5 0 0 0 7.54.54l3-3a5 5 0 0 0-7.07-7.07l-1.72 1.71"/><path d="M14 11a5 5 0 0 0-7.54-.54l-3 3a5 5 0 0 0 7.07 7.07l1.71-1.71"/>',
  leave:
    '<path d="M10.7 13.3a16 16 0 0 0 3.4 2.6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.8.7a2 2 0 0 1 1.7 2v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.4 19.4 0 0 1-3.3-2.7"/><path d="M5.3 15.4a19.8 19.8 0 0 1-3.1-8.6A2 2 0 0 1 4.1 4.6h3a2 2 0 0 1 2 1.7c.1 1 .4 1.9.7 2.8a2 2 0 0 1-.4 2.1l-1.3 1.3"/><path d="M22 2L2 22"/>',
  close: '<path d="M18 6L6 18M6 6l12 12"/>',
  send: '<path d="M22 2L11 13"/><path d="M22 2l-7 20-4-9-9-4 20-7z"/>',
  alert: '<path d="M10.3 3.9L1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z"/><path d="M12 9v4M12 17h.01"/>',
  refresh: '<path d="M21 3v6h-6"/><path d="M21 9a9 9 0 1 0 0 6"/>',
  check: '<path d="M20 6L9 17l-5-5"/>',
  wifiOff:
    '<path d="M2 2l20 20"/><path d="M8.5 16.5a5 5 0 0 1 7 0"/><path d="M2 8.8a15 15 0 0 1 4.2-2.6"/><path d="M10.7 5.1A15 15 0 0 1 22 8.8"/><path d="M5 12.9a10 10 0 0 1 5.2-2.6"/><path d="M16.9 10.9A10 10 0 0 1 19 12.9"/><path d="M12 20h.01"/>',
  volume: '<path d="M11 5L6 9H2v6h4l5 4V5z"/><path d="M15.5 8.5a5 5 0 0 1 0 7"/><path d="M19 5a10 10 0 0 1 0 14"/>',
  keyboard: '<rect x="2" y="5" width="20" height="14" rx="2"/><path d="M6 9h.01M10 9h.01M14 9h.01M18 9h.01M6 13h.01M18 13h.01M8 16h8M10 13h4"/>',
  pin: '<path d="M12 17v5"/><path d="M9 10.76V6h6v4.76l2 3.24H7l2-3.24z"/><path d="M8 2h8"/>',
};

const template = document.createElement("template");

export function icon(name, className = "icon") {
  template.innerHTML =
    `<svg class="${className}" viewBox="0 0 24 24" width="24" height="24" fill="none" stroke="currentColor" ` +
    `stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">` +
    `${PATHS[name]}</svg>`;
  return template.content.firstElementChild;
}

// Replace the icon inside a button (or any element holding one <svg>).
export function setIcon(element, name) {
  const current = element.querySelector("svg");
  if (current?.dataset.icon === name) return;
  const next = icon(name, current?.getAttribute("class") ?? "icon");
  next.dataset.icon = name;
  if (current) current.replaceWith(next);
  else element.prepend(next);
}

export function logo() {
  template.innerHTML =
    '<svg class="logo-mark" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" focusable="false">' +
    '<rect width="32" height="32" rx="9" fill="#4c8dff"/>' +
    '<circle cx="12" cy="13" r="4.2" fill="#fff"/><circle cx="21" cy="13" r="3.4" fill="#fff" opacity=".7"/>' +
    '<path d="M5.5 25c.8-4 3.4-6.3 6.5-6.3s5.7 2.3 6.5 6.3z" fill="#fff"/>' +
    '<path d="M17.7 19.6c.9-.6 2-.9 3.3-.9 2.6 0 4.7 2 5.4 5.3h-6.9a9 9 0 0 0-1.8-4.4z" fill="#fff" opacity=".7"/></svg>';
  return template.content.firstElementChild;
}
