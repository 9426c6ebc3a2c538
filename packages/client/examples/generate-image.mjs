// The vendor's example, against imagegen: IMAGEGEN_API_KEY and IMAGEGEN_BASE_URL come from the environment.
import { ImageGen } from '@imagegen/client';

const client = new ImageGen();

const response = await client.generateImage({
  prompt: 'A red circle',
  aspect_ratio: '1:1',
});

console.log('Image URL:', response.image_url);
console.log('Seed:', response.seed);
