import { shippedSuite } from './cases.js';

shippedSuite(1, 8);
