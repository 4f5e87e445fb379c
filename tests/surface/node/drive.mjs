// Drives vidserve with the official Node SDK (npm `openai`), so that the bracket encodings of
// nested multipart fields are exercised by the real client: input_reference[image_url],
// video[id] and characters[][id]. Run by tests/surface/test_node_sdk.py; prints one JSON
// object with everything it made.
//   VIDSERVE_BASE_URL, VIDSERVE_IMAGE_URL_FILE (a data: URL), VIDSERVE_CHARACTER_ID
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: process.env.VIDSERVE_BASE_URL,
  apiKey: 'sk-node-sdk',
  maxRetries: 0,
});

async function finished(id) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const video = await client.videos.retrieve(id);
    if (video.status === 'completed' || video.status === 'failed') return video;
    if (Date.now() > deadline) throw new Error(`${id} still ${video.status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const imageUrl = readFileSync(process.env.VIDSERVE_IMAGE_URL_FILE, 'utf8');
const out = {};

// create with input_reference[image_url] (a data: URL)
const created = await client.videos.create({
  prompt: 'node: animate this picture',
  size: '720x1280',
  seconds: '4',
  input_reference: { image_url: imageUrl },
});
out.created = await finished(created.id);

// edit and extend with video[id]
const edited = await client.videos.edit({ prompt: 'node: a golden edit', video: { id: created.id } });
const extended = await client.videos.extend({
  prompt: 'node: and then night falls',
  seconds: '4',
  video: { id: created.id },
});
// create with characters[][id]
const cast = await client.videos.create({
  prompt: 'node: the character on stage',
  size: '720x1280',
  characters: [{ id: process.env.VIDSERVE_CHARACTER_ID }],
});
out.edited = await finished(edited.id);
out.extended = await finished(extended.id);
out.cast = await finished(cast.id);

// an error comes back as the SDK's APIError with OpenAI's envelope
try {
  await client.videos.extend({ prompt: 'x', seconds: '10', video: { id: created.id } });
  out.error = null;
} catch (err) {
  out.error = { status: err.status, param: err.param, message: err.message };
}
process.stdout.write(JSON.stringify(out));
