import { shippedSuite } from './cases.js';

shippedSuite(0, 8);
