// Apply the remembered theme before the first paint (no flash). An external
// file rather than an inline script, so a strict Content-Security-Policy holds.
(function () {
  try {
    var t = localStorage.getItem("sentra.theme");
    if (t === "phosphor" || t === "night" || t === "light") document.documentElement.dataset.theme = t;
  } catch (e) {
    /* storage disabled: keep the default */
  }
})();
