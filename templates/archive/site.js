// Ett jämställt Västmanland: the script of every archive page (the pages work without it).
// An issue's page is frozen when it is sent, so a notice cannot change when its last day
// passes: from the day after, in the reader's calendar, it stops looking urgent
// ("Viktigt" hidden, "gällde till" instead of "gäller till", grey instead of yellow).
const now = new Date();
const today = [now.getFullYear(), now.getMonth() + 1, now.getDate()]
  .map((part) => String(part).padStart(2, "0")).join("-");
for (const notice of document.querySelectorAll("section.notice[data-until]")) {
  if (notice.dataset.until < today) {
    notice.classList.add("expired");
    const until = notice.querySelector(".notice-until");
    if (until) until.textContent = "gällde till";
  }
}
