// One-key review: in the face that has the focus (else the first one), 1-3 press the
// candidate's button, n "new person", d "not a face", s "skip". Plain buttons work without it.
document.addEventListener("keydown", function (e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  var t = e.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
  var item = (t && t.closest && t.closest(".item")) || document.querySelector(".queue .item");
  if (!item) return;
  var button = item.querySelector('button[data-key="' + e.key + '"]');
  if (button) {
    e.preventDefault();
    button.click();
  }
});
