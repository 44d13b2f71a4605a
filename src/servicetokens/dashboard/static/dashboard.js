// Progressive enhancement only: copy-to-clipboard buttons. Every action works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const status = document.querySelector(".copied");
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    if (!field || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(field.value);
        if (status) status.textContent = `${button.textContent.replace("Copy ", "")} copied.`;
      } catch {
        field.select();
        if (status) status.textContent = "Select the text and copy it with your keyboard.";
      }
    });
  }
});
