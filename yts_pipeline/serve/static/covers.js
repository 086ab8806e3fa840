// A cover whose URL does not load (offline, a moved host) is hidden, uncovering its placeholder.
// Registered in <head> and in the capture phase, so it sees the errors of every image below.
document.addEventListener("error", function (event) {
  var target = event.target;
  if (target && target.tagName === "IMG") {
    target.classList.add("missing");
  }
}, true);
